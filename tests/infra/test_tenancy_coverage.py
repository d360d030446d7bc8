"""Every tenant-owned model, every way it can enter a SELECT: the company filter is there.

The statements are executed for real (an empty result is fine) and the SQL PostgreSQL receives is
inspected: each tenant-owned table or alias in it must be compared with the scoped company's id,
through plain selects, aliases, unions, joins along foreign keys and relationships, correlated
subqueries and relationship loads. A test also pins the mechanism's cost: a scoped statement is
compiled once and then served from SQLAlchemy's statement cache for every company.
"""
from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import event, exists, func, literal_column, select, union_all
from sqlalchemy.orm import aliased
from sqlalchemy.sql import compiler

import knowrithm.models  # noqa: F401  (registers every table before they are listed)
from knowrithm.infra.db import Base, CatalogOwned, SoftDelete, TenantOwned, db
from knowrithm.infra.tenancy import company_scope

# Tables that carry a company_id but are deliberately outside the automatic filter:
# people who may belong to no company (super admin) and are found across
# companies at login, platform-wide records (audit, request log and its usage, session and
# address rollups, task
# records, configuration, addresses shared by companies) and the BM25 bookkeeping kept by
# database triggers.
# A new table with a company_id must either use TenantOwned/CatalogOwned or be added here.
UNSCOPED = {"User", "ApiRequestLog", "ApiUsageRollup", "SessionRollup", "ClientIpRollup", "AuditLog", "TaskRecord", "SystemConfig", "Address",
            "AgentTerm", "AgentSearchStats", "ChunkTerm"}


def _mapped():
    return sorted((m.class_ for m in Base.registry.mappers), key=lambda c: c.__name__)


TENANT = [c for c in _mapped() if issubclass(c, TenantOwned)]
CATALOG = [c for c in _mapped() if issubclass(c, CatalogOwned)]
SCOPED = TENANT + CATALOG


def _capture(app):
    seen: list[tuple[str, dict]] = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, dict(parameters or {})))

    return seen, listener


@pytest.fixture
def run(app, companies):
    """Executes a statement in company A's scope; returns the SQL and parameters sent."""
    company_id = companies[0].company_id
    with app.app_context():
        seen, listener = _capture(app)
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            def execute(stmt):
                seen.clear()
                with company_scope(company_id):
                    db.session.execute(stmt).all()
                assert seen, "nothing was executed"
                return seen[-1]
            yield execute, company_id
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
            db.session.remove()


def assert_scoped(sql: str, params: dict, name: str, model: type, company_id: uuid.UUID) -> None:
    """`name` (a table or an alias in the FROM list) is filtered to the company (and undeleted)."""
    compared = re.findall(rf'(?<![\w.]){re.escape(name)}\.company_id = %\((\w+)\)s', sql)
    assert any(params.get(p) == company_id for p in compared), f"{name}: no company filter in\n{sql}"
    if issubclass(model, CatalogOwned):
        assert f"{name}.company_id IS NULL" in sql, f"{name}: catalog rows not kept in\n{sql}"
    if issubclass(model, SoftDelete):
        assert f"{name}.deleted_at IS NULL" in sql, f"{name}: deleted rows not hidden in\n{sql}"


def _foreign_targets(model):
    """(column, target model) for each foreign key from `model` to another scoped model."""
    by_table = {c.__table__.name: c for c in SCOPED}
    for column in model.__table__.columns:
        for fk in column.foreign_keys:
            target = by_table.get(fk.column.table.name)
            if target is not None and column.name != "company_id":
                yield column, target


def test_every_table_with_a_company_id_is_scoped_or_listed():
    with_company = {c.__name__ for c in _mapped() if "company_id" in c.__table__.columns}
    scoped = {c.__name__ for c in SCOPED}
    assert with_company - scoped == UNSCOPED, "a table with company_id is neither scoped nor listed in UNSCOPED"
    # the listing itself works: the company's core rows are in it
    assert {"Agent", "ApiKey", "Document", "DocumentChunk", "Conversation", "Message", "Lead", "LLMSettings",
            "DatabaseConnection", "WebsiteSource"} <= {c.__name__ for c in TENANT}


def test_a_plain_and_an_aliased_select_carry_the_filter(run):
    execute, company_id = run
    for model in SCOPED:
        _plain_and_aliased(execute, company_id, model)


def _plain_and_aliased(execute, company_id, model):
    sql, params = execute(select(model))
    assert_scoped(sql, params, model.__tablename__, model, company_id)
    other = aliased(model, name="other_rows")
    sql, params = execute(select(other.id).where(other.id.is_not(None)))
    assert_scoped(sql, params, "other_rows", model, company_id)
    sql, params = execute(select(func.count()).select_from(model))
    assert_scoped(sql, params, model.__tablename__, model, company_id)


def test_each_part_of_a_union_carries_it(run):
    """Grouped counts of several tables in one statement (agents' list counts) stay scoped."""
    execute, company_id = run
    for model in SCOPED:
        other = aliased(model, name="second_part")
        sql, params = execute(union_all(select(model.id), select(other.id).where(other.id.is_not(None))))
        assert_scoped(sql, params, model.__tablename__, model, company_id)
        assert_scoped(sql, params, "second_part", model, company_id)


def test_joins_and_subqueries_along_foreign_keys_carry_it_on_both_sides(run):
    execute, company_id = run
    pairs = [(model, column, target) for model in SCOPED for column, target in _foreign_targets(model)]
    assert len(pairs) >= 10  # messages -> conversations, chunks -> documents, settings -> providers, ...
    for model, column, target in pairs:
        target_alias = aliased(target, name="joined_rows")
        fk = getattr(model, column.key)
        sql, params = execute(select(model.id, target_alias.id).join(target_alias, fk == target_alias.id))
        assert_scoped(sql, params, model.__tablename__, model, company_id)
        assert_scoped(sql, params, "joined_rows", target, company_id)
        # outer join: the filter must sit in the ON clause of the joined side
        sql, params = execute(select(model.id).outerjoin(target_alias, fk == target_alias.id))
        assert_scoped(sql, params, "joined_rows", target, company_id)
        # correlated EXISTS from the target back to the model
        sql, params = execute(select(target.id).where(exists(select(model.id).where(fk == target.id))))
        assert_scoped(sql, params, model.__tablename__, model, company_id)
        assert_scoped(sql, params, target.__tablename__, target, company_id)


def test_joins_along_relationships_carry_it(run):
    execute, company_id = run
    relations = [(model, rel, rel.mapper.class_) for model in SCOPED for rel in model.__mapper__.relationships
                 if issubclass(rel.mapper.class_, (TenantOwned, CatalogOwned))]
    assert relations  # settings -> provider/model, provider <-> models
    for model, rel, target in relations:
        target_alias = aliased(target, name="related_rows")
        sql, params = execute(select(model.id).join(getattr(model, rel.key).of_type(target_alias)))
        assert_scoped(sql, params, model.__tablename__, model, company_id)
        assert_scoped(sql, params, "related_rows", target, company_id)


def test_relationship_loads_see_only_the_catalog_and_the_company(app, companies):
    """A lazy relationship load is an ORM query of its own and goes through the same filter."""
    from knowrithm.domains.llm.models import Provider, ProviderModel

    a, b = companies
    with app.app_context():
        provider = Provider(value=f"shared-{uuid.uuid4().hex[:6]}", label="Shared")
        db.session.add(provider)
        db.session.flush()
        db.session.add_all([
            ProviderModel(provider_id=provider.id, name="catalog-model", model_type="llm"),
            ProviderModel(provider_id=provider.id, name="a-model", model_type="llm", company_id=a.company_id),
            ProviderModel(provider_id=provider.id, name="b-model", model_type="llm", company_id=b.company_id),
        ])
        db.session.commit()
        provider_id = provider.id
        db.session.remove()
        with company_scope(a.company_id):
            loaded = db.session.get(Provider, provider_id)
            assert {m.name for m in loaded.models} == {"catalog-model", "a-model"}
        db.session.remove()
        with company_scope(b.company_id):
            loaded = db.session.get(Provider, provider_id)
            assert {m.name for m in loaded.models} == {"catalog-model", "b-model"}
        db.session.remove()


def test_a_scoped_statement_is_compiled_once_for_every_company(app, companies, monkeypatch):
    """The criteria lambdas keep SQLAlchemy's statement cache working: company B reuses the SQL
    compiled for company A (with its own id bound), it is not compiled again."""
    from knowrithm.domains.agents.models import Agent

    compiled = []
    original = compiler.SQLCompiler.__init__

    def counting(self, *args, **kwargs):
        compiled.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(compiler.SQLCompiler, "__init__", counting)
    probe = literal_column(f"'{uuid.uuid4().hex}'")  # literal SQL: a statement the cache has never seen
    a, b = companies
    with app.app_context():
        db.session.add_all([Agent(company_id=a.company_id, name="mine"), Agent(company_id=b.company_id, name="theirs")])
        db.session.commit()

        def names(company_id):
            with company_scope(company_id):
                stmt = select(Agent.name, probe)
                return db.session.execute(stmt).scalars().all()

        assert names(a.company_id) == ["mine"]
        first = len(compiled)
        assert first >= 1
        assert names(b.company_id) == ["theirs"]
        assert names(a.company_id) == ["mine"]
        assert len(compiled) == first, "the scoped statement was compiled again for another company"
        db.session.remove()
