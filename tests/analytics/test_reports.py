"""Company analytics through knowrithm-py, on data written to the real database."""
import csv
import io
from datetime import timedelta

import pytest
from knowrithm_py.dataclass.error import KnowrithmAPIError


@pytest.fixture
def activity(app, companies):
    """Company A: one agent, two lead conversations, messages (one unanswered question), three leads.
    Company B: an agent with one conversation, which must never show in A's figures."""
    from knowrithm.domains.agents.models import Agent
    from knowrithm.domains.conversations.models import Conversation, Message
    from knowrithm.domains.leads.models import Lead
    from knowrithm.infra.db import db, utcnow

    a, b = companies
    with app.app_context():
        agent = Agent(company_id=a.company_id, name="Support", status="active")
        other = Agent(company_id=b.company_id, name="Other", status="active")
        db.session.add_all([agent, other])
        db.session.flush()
        leads = [Lead(company_id=a.company_id, agent_id=agent.id, email=f"l{i}@x.test", first_name=f"L{i}",
                      source=src, status=status, consent_marketing=i == 0)
                 for i, (src, status) in enumerate([("widget", "converted"), ("widget", "new"), ("ads", "qualified")])]
        db.session.add_all(leads)
        db.session.flush()
        convs = [Conversation(company_id=a.company_id, agent_id=agent.id, entity_type="lead", entity_id=l.id,
                              title=f"chat {i}", message_count=2, lead_satisfaction=4.0) for i, l in enumerate(leads[:2])]
        convs.append(Conversation(company_id=b.company_id, agent_id=other.id, title="theirs", message_count=9))
        db.session.add_all(convs)
        db.session.flush()
        now = utcnow()
        q1 = Message(company_id=a.company_id, conversation_id=convs[0].id, agent_id=agent.id, role="user",
                     content="Do you ship to Mars?", created_at=now - timedelta(minutes=5))
        q2 = Message(company_id=a.company_id, conversation_id=convs[1].id, agent_id=agent.id, role="user",
                     content="What is the warranty?", created_at=now - timedelta(minutes=4))
        db.session.add_all([q1, q2])
        db.session.flush()
        db.session.add_all([
            Message(company_id=a.company_id, conversation_id=convs[0].id, agent_id=agent.id, role="assistant",
                    content="I don't know.", answered=False, reply_to_id=q1.id, processing_time=0.2,
                    tokens_used=10, model_used="extractive", user_feedback=-1),
            Message(company_id=a.company_id, conversation_id=convs[1].id, agent_id=agent.id, role="assistant",
                    content="Lifetime [Source 1]", answered=True, reply_to_id=q2.id, processing_time=0.4,
                    tokens_used=30, model_used="extractive", user_feedback=1,
                    sources=[{"source_number": 1, "document_name": "warranty.pdf", "cited": True}]),
            Message(company_id=b.company_id, conversation_id=convs[2].id, agent_id=other.id, role="user",
                    content="Not yours"),
        ])
        db.session.commit()
        ids = {"agent": str(agent.id), "other_agent": str(other.id), "conversation": str(convs[1].id),
               "other_conversation": str(convs[2].id)}
        db.session.remove()
    return ids


def test_dashboard(sdk_a, activity):
    body = sdk_a.analytics.get_dashboard_overview()
    core = body["core_metrics"]
    assert (core["conversation_count"], core["lead_count"], core["agent_count"]) == (2, 3, 1)
    messages = body["conversation_analytics"]["message_analytics"]
    assert messages["total_messages"] == 4 and messages["total_tokens"] == 40
    assert body["conversation_analytics"]["message_roles"] == {"user": 2, "assistant": 2}
    assert body["lead_analytics"]["lead_status_distribution"] == {"converted": 1, "new": 1, "qualified": 1}
    assert body["lead_analytics"]["consent_analytics"]["marketing_consent_rate"] == pytest.approx(33.33)
    assert body["agent_analytics"]["top_performing_agents"][0]["total_conversations"] == 2
    assert body["unanswered_questions"] == [{"question": "Do you ship to Mars?", "count": 1}]
    assert body["performance_analytics"]["model_performance"][0]["model"] == "extractive"


def test_agent_reports(sdk_a, activity):
    report = sdk_a.analytics.get_agent_analytics(activity["agent"])
    assert report["conversation_metrics"]["total_conversations"] == 2
    assert report["message_metrics"] == {"total_messages": 4, "user_messages": 2, "assistant_messages": 2}
    assert report["performance_metrics"]["max_response_time_seconds"] == pytest.approx(0.4)
    assert report["top_sources"] == [{"source": "warranty.pdf", "conversation_count": 1}]
    assert report["conversion_metrics"]["total_converted"] == 1
    comparison = sdk_a.analytics.get_agent_performance_comparison(activity["agent"])
    assert comparison["performance_comparison"]["conversations"]["agent_value"] == 2


def test_conversation_and_lead_and_usage_reports(sdk_a, activity):
    conv = sdk_a.analytics.get_conversation_analytics(activity["conversation"])
    assert conv["message_analytics"]["total_messages"] == 2 and conv["message_roles"]["assistant"] == 1
    leads = sdk_a.analytics.get_lead_analytics()
    assert leads["lead_summary"]["total_leads"] == 3
    assert leads["conversion_funnel"]["overall_conversion_rate_percent"] == pytest.approx(33.33)
    assert {r["source"]: r["count"] for r in leads["source_analysis"]} == {"widget": 2, "ads": 1}
    usage = sdk_a.analytics.get_usage_metrics()
    assert usage["agent_usage"]["total_agents"] == 1 and usage["token_usage"]["total_tokens"] == 40


def test_exports(sdk_a, activity):
    body = sdk_a.analytics.export_analytics("leads", "json")
    assert body["count"] == 3 and {l["email"] for l in body["leads"]} == {"l0@x.test", "l1@x.test", "l2@x.test"}
    text = sdk_a.analytics.export_analytics("conversations", "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["title"] for r in rows} == {"chat 0", "chat 1"}


def test_metric_collection_runs_in_the_worker(sdk_a, activity, celery_worker):
    result = sdk_a.analytics.trigger_system_metric_collection()
    assert result["metrics"]["conversations"] == 2 and result["metrics"]["leads"] == 3


def test_other_company_sees_nothing_of_a(sdk_b, activity):
    for call in (lambda: sdk_b.analytics.get_agent_analytics(activity["agent"]),
                 lambda: sdk_b.analytics.get_conversation_analytics(activity["conversation"])):
        with pytest.raises(KnowrithmAPIError) as err:
            call()
        assert err.value.status_code == 404
    body = sdk_b.analytics.get_dashboard_overview()
    assert body["core_metrics"]["conversation_count"] == 1 and body["core_metrics"]["lead_count"] == 0
    assert body["unanswered_questions"] == []


def test_bad_input(sdk_a, activity):
    for call, field in ((lambda: sdk_a.analytics.export_analytics("secrets", "json"), "type"),
                        (lambda: sdk_a.analytics.export_analytics("leads", "xml"), "format"),
                        (lambda: sdk_a.analytics.get_lead_analytics(start_date="yesterday"), "start_date")):
        with pytest.raises(KnowrithmAPIError) as err:
            call()
        assert err.value.status_code == 400 and field in err.value.response_data["details"]


def test_usage_report_charts_the_range_asked_for_beyond_thirty_days(app, sdk_a, activity):
    """The console's "conversations and messages per day" chart reads the usage report, which
    covers whatever range is chosen (the dashboard's own timeline is the last 30 days)."""
    from datetime import timedelta

    from sqlalchemy import update

    from knowrithm.domains.conversations.models import Conversation, Message
    from knowrithm.infra.db import db, utcnow

    old = utcnow() - timedelta(days=60)
    with app.app_context():
        db.session.execute(update(Conversation).where(Conversation.id == activity["conversation"])
                           .values(created_at=old).execution_options(all_companies=True))
        db.session.execute(update(Message).where(Message.conversation_id == activity["conversation"])
                           .values(created_at=old).execution_options(all_companies=True))
        db.session.commit()
    day = old.date().isoformat()
    recent = sdk_a.analytics.get_usage_metrics()
    assert day not in [d["date"] for d in recent["activity_timeline"]]
    wide = sdk_a.analytics.get_usage_metrics(start_date=(utcnow() - timedelta(days=90)).isoformat(),
                                             end_date=utcnow().isoformat())
    by_day = {d["date"]: d for d in wide["activity_timeline"]}
    assert by_day[day] == {"date": day, "conversations": 1, "messages": 2}
    assert sum(d["conversations"] for d in wide["activity_timeline"]) == wide["agent_usage"]["total_conversations"]
    dashboard = sdk_a.analytics.get_dashboard_overview()
    assert day not in [d["date"] for d in dashboard["conversation_analytics"]["activity_timeline"]]
