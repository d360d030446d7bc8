"""Agent routes (CONTRACT §2.7, G1–G14). `/sdk/*` twins answer synchronously (D-14)."""
from __future__ import annotations

from knowrithm.infra.api import ApiBlueprint
from knowrithm.infra.auth import PUBLIC, READ, WRITE, acting_company_id, current_principal
from knowrithm.infra.tenancy import company_scope

from . import embed, service
from .schemas import AgentCreate, AgentListQuery, AgentUpdate, CloneIn, CompanyQuery, TestIn, agent_public_out

bp = ApiBlueprint("agents", __name__, tag="agents")


def _list_scope(requested: str | None) -> None:
    """A super admin who names no company lists every company's agents; everyone else their own."""
    principal = current_principal(optional=False)
    if requested or not principal.is_super_admin:
        acting_company_id(requested)


@bp.post("/agent", auth=WRITE, body=AgentCreate, status=202,
         summary="Create an agent (ids, a settings object, or the company default settings)")
def create_agent(body: AgentCreate):
    return service.create_and_confirm(company_id=acting_company_id(body.company_id), actor=current_principal(),
                                      body=body)


@bp.post("/sdk/agent", auth=WRITE, body=AgentCreate, status=202,
         summary="Create an agent with flat provider/model ids or a `settings` object of names")
def create_sdk_agent(body: AgentCreate):
    return service.create_and_confirm(company_id=acting_company_id(body.company_id), actor=current_principal(),
                                      body=body)


@bp.get("/agent", auth=READ, query=AgentListQuery, summary="List agents (filters: status, search)")
def list_agents(query: AgentListQuery):
    _list_scope(query.company_id)
    return service.list_agents(status=query.status, search=query.search, page=query.page, per_page=query.per_page)


@bp.get("/agent/by-name/<path:name>", auth=READ, query=CompanyQuery, summary="Find an agent by name (case-insensitive)")
def get_agent_by_name(name: str, query: CompanyQuery):
    _list_scope(query.company_id)
    return {"agent": service.serialise(service.find_by_name(name))}


@bp.get("/agent/<agent_id>", auth=PUBLIC, summary="Public agent metadata for the widget (safe fields only)")
def get_agent(agent_id: str):
    # Public: credentials are ignored and no company scope applies; soft-deleted agents stay hidden.
    with company_scope(None):
        agent = agent_public_out(service.get_agent(agent_id))
    return {"agent": agent, "id": agent["id"], "name": agent["name"]}


@bp.put("/agent/<agent_id>", auth=WRITE, body=AgentUpdate, status=202, summary="Update an agent (queued)")
def update_agent(agent_id: str, body: AgentUpdate):
    return service.update_and_report(agent_id, actor=current_principal(), body=body, sync=False)


@bp.put("/sdk/agent/<agent_id>", auth=WRITE, body=AgentUpdate, query=CompanyQuery,
        summary="Update an agent and optionally replace its LLM settings (synchronous)")
def update_sdk_agent(agent_id: str, body: AgentUpdate, query: CompanyQuery):
    if query.company_id or body.company_id:  # a super admin acting inside a named company
        acting_company_id(query.company_id or body.company_id)
    return service.update_and_report(agent_id, actor=current_principal(), body=body, sync=True)


@bp.delete("/agent/<agent_id>", auth=WRITE, status=202, summary="Soft-delete an agent (queued)")
def delete_agent(agent_id: str):
    return service.delete(agent_id, actor=current_principal(), sync=False)


@bp.delete("/sdk/agent/<agent_id>", auth=WRITE, summary="Soft-delete an agent (synchronous)")
def delete_sdk_agent(agent_id: str):
    return service.delete(agent_id, actor=current_principal(), sync=True)


@bp.patch("/agent/<agent_id>/restore", auth=WRITE, status=202, summary="Restore a soft-deleted agent")
def restore_agent(agent_id: str):
    return service.queue_restore(agent_id, actor=current_principal())


@bp.get("/agent/<agent_id>/embed-code", auth=READ, summary="Script tags that embed the chat widget")
def get_embed_code(agent_id: str):
    agent = service.get_agent(agent_id)
    return embed.embed_code(agent, service.settings_of(agent))


@bp.post("/agent/<agent_id>/test", auth=READ, body=TestIn, status=202,
         summary="Ask the agent's model a test question (needs read access only)")
def test_agent(agent_id: str, body: TestIn):
    return service.queue_test(agent_id, query=body.text)


@bp.get("/agent/<agent_id>/stats", auth=READ, summary="Usage figures of an agent")
def get_agent_stats(agent_id: str):
    return service.stats(service.get_agent(agent_id))


@bp.post("/agent/<agent_id>/clone", auth=WRITE, body=CloneIn, status=202,
         summary="Clone an agent with its settings and knowledge (the clone starts inactive)")
def clone_agent(agent_id: str, body: CloneIn):
    return service.queue_clone(agent_id, actor=current_principal(), name=body.name, description=body.description,
                               llm_settings_id=body.llm_settings_id)
