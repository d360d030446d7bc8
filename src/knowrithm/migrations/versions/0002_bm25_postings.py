"""BM25 postings and per-agent search statistics, kept by triggers

Revision ID: 0002
Revises: 0001

Keyword ranking used to unnest the tsvector of every chunk matching any query lexeme, which
grew with the agent (1.3 s at 100,000 chunks). The postings table holds one row per (agent,
lexeme, chunk) with the term frequency and chunk length, and `agent_search_stats` the
per-agent totals, and `agent_terms` each lexeme's document frequency, so BM25 reads only the
query lexemes' postings, once.

Statement-level triggers with transition tables maintain both, so every write path (bulk
insert, soft delete, restore, content edit, cascaded delete) keeps them exact in its own
transaction, and a bulk statement pays one set-based insert instead of a trigger per row.
"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

# Per-row BM25 inputs of a set of chunk rows (`src`): their live postings and lengths.
_POSTINGS = """
  SELECT r.agent_id, u.lexeme, r.id AS chunk_id, r.company_id, r.document_id,
         coalesce(array_length(u.positions, 1), 1) AS tf, r.dl
  FROM {src} r CROSS JOIN LATERAL unnest(r.search_vector) u"""

_LIVE = """
  SELECT s.id, s.agent_id, s.company_id, s.document_id, s.search_vector,
         (SELECT coalesce(sum(coalesce(array_length(x.positions, 1), 1)), 0)
          FROM unnest(s.search_vector) x)::int AS dl
  FROM {rows} s {where}"""

_CHANGED = """(SELECT o.id FROM old_rows o JOIN new_rows n ON n.id = o.id
  WHERE (o.deleted_at IS NULL) <> (n.deleted_at IS NULL) OR o.search_vector IS DISTINCT FROM n.search_vector
     OR o.agent_id <> n.agent_id OR o.document_id <> n.document_id OR o.company_id <> n.company_id)"""


# Lock order, to rule out deadlocks between concurrent writers of one agent: the agent's stats
# row first (every trigger statement starts with it, so it acts as the agent's write lock),
# then its postings and document frequencies.
def _add(rows: str, where: str) -> str:
    return f"""
  INSERT INTO agent_search_stats (agent_id, company_id, chunk_count, total_length)
  SELECT agent_id, company_id, count(*), sum(dl) FROM ({_LIVE.format(rows=rows, where=where)}) live
  GROUP BY agent_id, company_id ORDER BY agent_id
  ON CONFLICT (agent_id) DO UPDATE
    SET chunk_count = agent_search_stats.chunk_count + excluded.chunk_count,
        total_length = agent_search_stats.total_length + excluded.total_length;
  WITH live AS MATERIALIZED ({_LIVE.format(rows=rows, where=where)}),
  ins AS (INSERT INTO chunk_terms (agent_id, lexeme, chunk_id, company_id, document_id, tf, dl)
          {_POSTINGS.format(src="live")})
  INSERT INTO agent_terms (agent_id, lexeme, company_id, df)
  SELECT l.agent_id, u.lexeme, l.company_id, count(*) FROM live l CROSS JOIN LATERAL unnest(l.search_vector) u
  GROUP BY 1, 2, 3 ORDER BY 1, 2
  ON CONFLICT (agent_id, lexeme) DO UPDATE SET df = agent_terms.df + excluded.df;"""


def _remove(rows: str, where: str) -> str:
    # Plain UPDATEs, not upserts: under a cascaded agent delete those rows are gone already.
    return f"""
  UPDATE agent_search_stats a SET chunk_count = a.chunk_count - d.n, total_length = a.total_length - d.len
  FROM (SELECT agent_id, count(*) AS n, sum(dl) AS len FROM ({_LIVE.format(rows=rows, where=where)}) gone
        GROUP BY agent_id) d
  WHERE a.agent_id = d.agent_id;
  WITH gone AS MATERIALIZED ({_LIVE.format(rows=rows, where=where)}),
  del AS (DELETE FROM chunk_terms t USING gone g, unnest(g.search_vector) u
          WHERE t.agent_id = g.agent_id AND t.lexeme = u.lexeme AND t.chunk_id = g.id)
  UPDATE agent_terms a SET df = a.df - d.n
  FROM (SELECT g.agent_id, u.lexeme, count(*) AS n FROM gone g CROSS JOIN LATERAL unnest(g.search_vector) u
        GROUP BY 1, 2) d
  WHERE a.agent_id = d.agent_id AND a.lexeme = d.lexeme;"""


LIVE = "WHERE s.deleted_at IS NULL"
CHANGED_LIVE = f"WHERE s.deleted_at IS NULL AND s.id IN {_CHANGED}"

FUNCTIONS = f"""
CREATE FUNCTION knowrithm_chunks_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN {_add("new_rows", LIVE)}
  RETURN NULL;
END $$;

CREATE FUNCTION knowrithm_chunks_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN {_remove("old_rows", LIVE)}
  RETURN NULL;
END $$;

-- Only rows whose indexed state changed (liveness, text, agent, document, company) are
-- re-indexed: old postings out first, new ones in, in two statements so keys never clash.
CREATE FUNCTION knowrithm_chunks_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN {_remove("old_rows", CHANGED_LIVE)} {_add("new_rows", CHANGED_LIVE)}
  RETURN NULL;
END $$;

CREATE TRIGGER document_chunks_bm25_insert AFTER INSERT ON document_chunks
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION knowrithm_chunks_inserted();
CREATE TRIGGER document_chunks_bm25_update AFTER UPDATE ON document_chunks
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION knowrithm_chunks_updated();
CREATE TRIGGER document_chunks_bm25_delete AFTER DELETE ON document_chunks
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION knowrithm_chunks_deleted();
"""


def upgrade():
    op.create_table(
        'chunk_terms',
        sa.Column('agent_id', sa.Uuid(), nullable=False),
        sa.Column('lexeme', sa.Text(), nullable=False),
        sa.Column('chunk_id', sa.Uuid(), nullable=False),
        sa.Column('company_id', sa.Uuid(), nullable=False),
        sa.Column('document_id', sa.Uuid(), nullable=False),
        sa.Column('tf', sa.Integer(), nullable=False),
        sa.Column('dl', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('agent_id', 'lexeme', 'chunk_id', name='pk_chunk_terms',
                                postgresql_include=['tf', 'dl', 'document_id']),
    )
    op.create_table(
        'agent_search_stats',
        sa.Column('agent_id', sa.Uuid(), nullable=False),
        sa.Column('company_id', sa.Uuid(), nullable=False),
        sa.Column('chunk_count', sa.BigInteger(), nullable=False),
        sa.Column('total_length', sa.BigInteger(), nullable=False),
        sa.Column('vector_index_name', sa.String(length=63), nullable=True),
        sa.Column('vector_index_model', sa.String(length=200), nullable=True),
        sa.Column('vector_index_dim', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_agent_search_stats_agent_id_agents'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['company_id'], ['companies.id'],
                                name=op.f('fk_agent_search_stats_company_id_companies'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('agent_id', name=op.f('pk_agent_search_stats')),
    )
    op.create_index(op.f('ix_agent_search_stats_company_id'), 'agent_search_stats', ['company_id'], unique=False)
    op.create_table(
        'agent_terms',
        sa.Column('agent_id', sa.Uuid(), nullable=False),
        sa.Column('lexeme', sa.Text(), nullable=False),
        sa.Column('company_id', sa.Uuid(), nullable=False),
        sa.Column('df', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_agent_terms_agent_id_agents'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('agent_id', 'lexeme', name=op.f('pk_agent_terms')),
    )
    op.drop_column('document_chunks', 'lexeme_count')
    op.execute(FUNCTIONS)
    # Existing chunks: fire the insert path once for all of them.
    op.execute(_add("document_chunks", LIVE))


def downgrade():
    for trigger in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS document_chunks_bm25_{trigger} ON document_chunks")
    for fn in ("knowrithm_chunks_inserted", "knowrithm_chunks_updated", "knowrithm_chunks_deleted"):
        op.execute(f"DROP FUNCTION IF EXISTS {fn}()")
    op.add_column('document_chunks', sa.Column('lexeme_count', sa.Integer(), server_default='0', nullable=False))
    op.drop_index(op.f('ix_agent_search_stats_company_id'), table_name='agent_search_stats')
    op.drop_table('agent_search_stats')
    op.drop_table('agent_terms')
    op.drop_table('chunk_terms')
