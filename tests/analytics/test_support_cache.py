"""The unanswered-question clusters on the dashboard path: question vectors and the clusters are
reused from Redis while no new question comes, give the same answer as a fresh computation, and
a new unanswered question is clustered at once."""
from datetime import timedelta


def _unanswered(app, tenant, questions):
    from knowrithm.domains.agents.models import Agent
    from knowrithm.domains.conversations.models import Conversation, Message
    from knowrithm.infra.db import db, utcnow

    with app.app_context():
        agent = db.session.query(Agent).filter_by(company_id=tenant.company_id).first()
        if agent is None:
            agent = Agent(company_id=tenant.company_id, name="Support", status="active")
            db.session.add(agent)
            db.session.flush()
        for text in questions:
            conv = Conversation(company_id=tenant.company_id, agent_id=agent.id, title=text, message_count=2)
            db.session.add(conv)
            db.session.flush()
            q = Message(company_id=tenant.company_id, conversation_id=conv.id, agent_id=agent.id, role="user",
                        content=text, created_at=utcnow() - timedelta(seconds=1))
            db.session.add(q)
            db.session.flush()
            db.session.add(Message(company_id=tenant.company_id, conversation_id=conv.id, agent_id=agent.id,
                                   role="assistant", content="I don't know.", answered=False, reply_to_id=q.id))
        db.session.commit()
        db.session.remove()


def test_clusters_are_reused_until_a_new_question_comes(app, companies):
    from knowrithm.domains.analytics import support
    from knowrithm.infra.db import utcnow
    from knowrithm.infra.tenancy import company_scope

    a, _ = companies
    _unanswered(app, a, ["Do you ship to Mars?", "Do you deliver to Mars?", "Can I pay with bitcoin?"])
    r = app.extensions["redis"]

    def clusters():
        with app.app_context(), company_scope(a.company_id):
            return support.support_metrics(utcnow() - timedelta(days=1), utcnow() + timedelta(seconds=1))[
                "unanswered_questions"]

    first = clusters()
    assert sorted(c["count"] for c in first) == [1, 2]  # the two Mars questions are one cluster
    assert len(list(r.scan_iter(support.VECTOR_KEY + "*"))) == 3
    assert len(list(r.scan_iter(support.CLUSTERS_KEY + "*"))) == 1
    assert clusters() == first  # from the cache: the same answer
    # Without the cached clusters (vectors still cached) the computation gives the same again.
    r.delete(*r.scan_iter(support.CLUSTERS_KEY + "*"))
    assert clusters() == first

    _unanswered(app, a, ["Is shipping to Mars free?"])
    second = clusters()
    assert sum(c["count"] for c in second) == 4  # not the cached three
    assert any("Is shipping to Mars free?" in c["examples"] for c in second)
    assert len(list(r.scan_iter(support.VECTOR_KEY + "*"))) == 4


def test_erasing_a_visitor_drops_their_cached_questions_and_their_companys_clusters(app, companies):
    """Clusters quote questions: after a lead's erasure no cache entry holds what they asked,
    while another company's cached clusters stay."""
    from knowrithm.domains.analytics import support
    from knowrithm.domains.conversations.models import Conversation
    from knowrithm.domains.leads.models import Lead
    from knowrithm.domains.lifecycle import erasure
    from knowrithm.infra.db import db, utcnow
    from knowrithm.infra.tenancy import company_scope

    a, b = companies
    secret = "Is my card 4111 1111 1111 1111 on file?"
    _unanswered(app, a, [secret])
    _unanswered(app, b, ["Do you ship to Mars?"])
    with app.app_context():
        lead = Lead(company_id=a.company_id, email="erase.me@example.org")
        db.session.add(lead)
        db.session.flush()
        conv = db.session.query(Conversation).filter_by(company_id=a.company_id, title=secret).one()
        conv.entity_type, conv.entity_id = "lead", lead.id
        db.session.commit()
        lead_id = lead.id
        db.session.remove()
    r = app.extensions["redis"]
    for tenant in (a, b):
        with app.app_context(), company_scope(tenant.company_id):
            support.support_metrics(utcnow() - timedelta(days=1), utcnow() + timedelta(seconds=1))
    vector = support.VECTOR_KEY + support.question_digest(secret)
    assert r.exists(vector)
    assert any(secret in r.get(k) for k in r.scan_iter(f"{support.CLUSTERS_KEY}{a.company_id}:*"))

    with app.app_context():
        result = erasure.erase_lead(lead_id=lead_id, actor=None)
    assert result["erased"] and result["redis_entries_removed"] >= 2
    assert not r.exists(vector)
    assert list(r.scan_iter(f"{support.CLUSTERS_KEY}{a.company_id}:*")) == []
    assert len(list(r.scan_iter(f"{support.CLUSTERS_KEY}{b.company_id}:*"))) == 1
    assert all(secret not in r.get(k) for k in r.scan_iter(support.CLUSTERS_KEY + "*"))
