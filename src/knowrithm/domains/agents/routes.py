"""Agent routes. The `/sdk/*` flavours answer synchronously (docs/api-compatibility.md, "Deliberate choices")."""
from __future__ import annotations

from flask import request

from knowrithm.domains.widget import embed
from knowrithm.infra.api import ApiBlueprint
from knowrithm.infra.auth import (PUBLIC, READ, WRITE, acting_company_id, attribute_request, current_principal,
                                  reads_company)
from knowrithm.infra.tasks import accepted_body
from knowrithm.infra.tenancy import company_scope

from . import service
from .schemas import (AgentByNameOut, AgentCloneOut, AgentCreate, AgentDeletedOut, AgentGetOut, AgentListOut,
                      AgentListQuery, AgentStatsOut, AgentTaskOut, AgentUpdate, AgentUpdatedOut, CloneIn, CompanyQuery,
                      EmbedCodeOut, TestIn, agent_public_out)

bp = ApiBlueprint("agents", __name__, tag="agents")


def _list_scope(requested: str | None) -> None:
    """A super admin who names no company lists every company's agents; everyone else their own."""
    principal = current_principal(optional=False)
    if requested or not principal.is_super_admin:
        acting_company_id(requested)


@bp.post(["/agent", "/sdk/agent"], auth=WRITE, body=AgentCreate, status=202, response=AgentTaskOut,
         summary="Create an agent (provider/model ids, a `settings` object of names, or the company default)")
def create_agent(body: AgentCreate):
    record, agent = service.create_and_confirm(company_id=acting_company_id(body.company_id),
                                               actor=current_principal(), body=body)
    return accepted_body(record, message="Agent creation accepted.", agent_id=str(agent.id))


@bp.get("/agent", auth=READ, query=AgentListQuery, response=AgentListOut,
        summary="List agents (filters: status, search)")
def list_agents(query: AgentListQuery):
    _list_scope(query.company_id)
    return service.list_agents(status=query.status, search=query.search, page=query.page, per_page=query.per_page)


@bp.get("/agent/by-name/<path:name>", auth=READ, query=CompanyQuery, response=AgentByNameOut,
        summary="Find an agent by name (case-insensitive)")
def get_agent_by_name(name: str, query: CompanyQuery):
    _list_scope(query.company_id)
    return service.agent_by_name(name)


@bp.get("/agent/<agent_id>", auth=PUBLIC, widget=True, response=AgentGetOut,
        summary="An agent: safe fields for anonymous callers (the widget), the full agent for its company")
def get_agent(agent_id: str):
    # Public: found without a company scope; soft-deleted agents stay hidden.
    with company_scope(None):
        row = service.get_agent(agent_id)
        attribute_request(row.company_id)
        if not reads_company(row.company_id):
            embed.check_origin(row, request.headers.get("Origin"))
            agent = agent_public_out(row)
            return {"agent": agent, "id": agent["id"], "name": agent["name"]}
    with company_scope(row.company_id):  # the owner's view: counts and settings of that company only
        agent = service.serialise(row)
    return {"agent": agent, "id": agent["id"], "name": agent["name"]}


@bp.put("/agent/<agent_id>", auth=WRITE, body=AgentUpdate, status=202, response=AgentTaskOut,
        summary="Update an agent (queued)")
def update_agent(agent_id: str, body: AgentUpdate):
    record, agent = service.update_and_report(agent_id, actor=current_principal(), body=body, sync=False)
    return accepted_body(record, message="Agent update accepted.", agent_id=str(agent.id))


@bp.put("/sdk/agent/<agent_id>", auth=WRITE, body=AgentUpdate, query=CompanyQuery, response=AgentUpdatedOut,
        summary="Update an agent and optionally replace its LLM settings (synchronous)")
def update_sdk_agent(agent_id: str, body: AgentUpdate, query: CompanyQuery):
    if query.company_id or body.company_id:  # a super admin acting inside a named company
        acting_company_id(query.company_id or body.company_id)
    actor = current_principal()
    _, agent = service.update_and_report(agent_id, actor=actor, body=body, sync=True)
    return {"agent": service.serialise(agent), "initiated_by": service.initiator(actor),
            "message": "Agent updated successfully"}


@bp.delete("/agent/<agent_id>", auth=WRITE, status=202, response=AgentTaskOut, summary="Soft-delete an agent (queued)")
def delete_agent(agent_id: str):
    record, agent = service.delete(agent_id, actor=current_principal(), sync=False)
    return accepted_body(record, message="Agent deletion accepted.", agent_id=str(agent.id))


@bp.delete("/sdk/agent/<agent_id>", auth=WRITE, response=AgentDeletedOut, summary="Soft-delete an agent (synchronous)")
def delete_sdk_agent(agent_id: str):
    actor = current_principal()
    _, agent = service.delete(agent_id, actor=actor, sync=True)
    return {"agent_id": str(agent.id), "initiated_by": service.initiator(actor),
            "message": "Agent deleted successfully"}


@bp.patch("/agent/<agent_id>/restore", auth=WRITE, status=202, response=AgentTaskOut,
           summary="Restore a soft-deleted agent")
def restore_agent(agent_id: str):
    record, agent = service.queue_restore(agent_id, actor=current_principal())
    return accepted_body(record, message="Agent restore accepted.", agent_id=str(agent.id))


@bp.get("/agent/<agent_id>/embed-code", auth=READ, response=EmbedCodeOut,
        summary="Script tags that embed the chat widget")
def get_embed_code(agent_id: str):
    return service.embed_code(agent_id)


@bp.post("/agent/<agent_id>/test", auth=READ, body=TestIn, status=202, response=AgentTaskOut,
         summary="Ask the agent's model a test question (needs read access only)")
def test_agent(agent_id: str, body: TestIn):
    record, agent = service.queue_test(agent_id, query=body.text)
    return accepted_body(record, message="Agent test queued.", agent_id=str(agent.id))


@bp.get("/agent/<agent_id>/stats", auth=READ, response=AgentStatsOut, summary="Usage figures of an agent")
def get_agent_stats(agent_id: str):
    return service.stats(agent_id)


@bp.post("/agent/<agent_id>/clone", auth=WRITE, body=CloneIn, status=202, response=AgentCloneOut,
         summary="Clone an agent with its settings and knowledge (the clone starts inactive)")
def clone_agent(agent_id: str, body: CloneIn):
    record, clone_id = service.queue_clone(agent_id, actor=current_principal(), name=body.name,
                                           description=body.description, llm_settings_id=body.llm_settings_id)
    return accepted_body(record, message="Agent clone accepted.", estimated_time=10, clone_agent_id=clone_id)
