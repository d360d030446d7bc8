"""The one tenancy helper: every ORM query is scoped to the caller's company and hides deleted rows."""
import pytest
from sqlalchemy import select

from knowrithm.domains.agents.models import Agent
from knowrithm.infra.db import db
from knowrithm.infra.errors import NotFound
from knowrithm.infra.tenancy import company_scope, get_or_404


def _agents(app, companies):
    a, b = companies
    with app.app_context():
        ours = Agent(company_id=a.company_id, name="ours")
        theirs = Agent(company_id=b.company_id, name="theirs")
        gone = Agent(company_id=a.company_id, name="gone")
        gone.soft_delete()
        db.session.add_all([ours, theirs, gone])
        db.session.commit()
        ids = ours.id, theirs.id, gone.id
        db.session.remove()
        return ids


def test_queries_see_only_the_scoped_company(app, companies):
    ours, theirs, gone = _agents(app, companies)
    with app.app_context(), company_scope(companies[0].company_id):
        names = set(db.session.execute(select(Agent.name)).scalars())
        assert names == {"ours"}
        assert get_or_404(Agent, ours).name == "ours"
        with pytest.raises(NotFound):
            get_or_404(Agent, theirs)  # not yours == missing
        with pytest.raises(NotFound):
            get_or_404(Agent, gone)
        assert get_or_404(Agent, gone, include_deleted=True).name == "gone"
        all_rows = db.session.execute(select(Agent).execution_options(all_companies=True)).scalars().all()
        assert {r.name for r in all_rows} == {"ours", "theirs"}


def test_relationship_and_count_queries_are_scoped_too(app, companies):
    _agents(app, companies)
    with app.app_context(), company_scope(companies[1].company_id):
        assert db.session.query(Agent).count() == 1
        assert db.session.query(Agent).one().name == "theirs"


def test_migrations_match_the_models(app):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with app.app_context():
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []
