"""The snippet a customer pastes into a web page to load the chat widget.

The loader sets `window.AIChatWidget` and loads the bundle from `<BASE_URL>/api/widget.js`;
the bundle strips the trailing `/v1` of `apiUrl` and calls `<apiUrl>/v1/...` itself.
"""
from __future__ import annotations

import json

from flask import current_app
from sqlalchemy import select

from knowrithm.domains.agents.models import Agent
from knowrithm.domains.llm.models import LLMSettings
from knowrithm.infra.db import db
from knowrithm.infra.errors import Forbidden, NotFound, ValidationFailed
from knowrithm.infra.parsing import parse_uuid

# Appearance/behaviour keys the widget honours; anything else in `widget_config` is ignored.
WIDGET_KEYS = ("primaryColor", "color", "position", "theme", "buttonText", "showBranding", "pollingIntervalMs",
               "autoOpen", "initialOpenDelayMs", "persistSession", "welcome", "title", "appearance", "behavior")
DEFAULTS = {"primaryColor": "#2563eb", "position": "bottom-right", "theme": "light", "buttonText": "Chat with us",
            "showBranding": True, "autoOpen": False, "persistSession": True}


def base_url() -> str:
    return current_app.config["SETTINGS"].BASE_URL.rstrip("/")


def script_url(settings) -> str:
    return (settings.widget_script_url if settings is not None and settings.widget_script_url
            else f"{base_url()}/api/widget.js")


def _script(config: dict, src: str) -> str:
    # json.dumps escapes quotes; "</" is escaped too so a name cannot close the <script> element.
    body = json.dumps(config, indent=2).replace("</", "<\\/")
    return (f"<script>\n  window.AIChatWidget = {body};\n</script>\n"
            f"<script src=\"{src}\" async></script>")


def simple_config(agent) -> dict:
    return {"agentId": str(agent.id), "apiUrl": f"{base_url()}/api/v1"}


def advanced_config(agent, settings) -> dict:
    custom = {k: v for k, v in (settings.widget_config or {}).items() if k in WIDGET_KEYS} if settings else {}
    return {**simple_config(agent), **DEFAULTS, "title": agent.name,
            "welcome": f"Hi! I'm {agent.name}. How can I help you today?", **custom}


def simple_snippet(agent, settings) -> str:
    return _script(simple_config(agent), script_url(settings))


def embed_code(agent, settings) -> dict:
    if settings is None:
        raise ValidationFailed("Agent has no LLM settings; configure them before embedding the widget",
                               code="AGENT_NOT_CONFIGURED", details={"llm_settings_id": ["not set"]})
    simple = simple_snippet(agent, settings)
    config = advanced_config(agent, settings)
    return {
        "embed_code": simple, "simple": simple, "advanced": _script(config, script_url(settings)),
        "config": config, "script_url": script_url(settings),
        "preview_url": f"{base_url()}/api/v1/test?agent_id={agent.id}",
        "agent_id": str(agent.id), "agent_name": agent.name,
    }


# --- which sites may embed an agent ---------------------------------------------------------

def allowed_origins(settings) -> list[str]:
    """`allowedOrigins` of the agent's widget config (e.g. ["https://shop.example"]); empty = any."""
    config = (settings.widget_config or {}) if settings is not None else {}
    raw = config.get("allowedOrigins") or config.get("allowed_origins") or []
    if isinstance(raw, str):
        raw = raw.split(",")
    return [str(o).strip().rstrip("/").lower() for o in raw if str(o).strip()] if isinstance(raw, list) else []


def agent_origins(agent) -> list[str]:
    """The agent's widget allow-list (empty = any origin)."""
    if agent is None or agent.llm_settings_id is None:
        return []
    settings = db.session.execute(select(LLMSettings).where(LLMSettings.id == agent.llm_settings_id)
                                  .execution_options(all_companies=True)).scalar_one_or_none()
    return allowed_origins(settings)


def check_allowed(allowed: list[str], origin: str | None) -> None:
    """403 when a browser's `origin` is outside a non-empty allow-list."""
    if origin and allowed and origin.strip().rstrip("/").lower() not in allowed:
        raise Forbidden("This website may not use this agent's chat widget", code="ORIGIN_NOT_ALLOWED",
                        details={"origin": [origin[:200]]})


def check_origin(agent, origin: str | None) -> None:
    """403 when a browser on a site outside the agent's list calls the widget's routes.

    Only browsers send `Origin`; servers and SDKs without it are governed by their credentials."""
    if origin:
        check_allowed(agent_origins(agent), origin)


def public_agent(agent_id) -> Agent:
    """The agent named by a public caller (no company scope yet); 404 when absent or deleted."""
    key = parse_uuid(agent_id, "agent_id")
    agent = db.session.execute(select(Agent).where(Agent.id == key).execution_options(all_companies=True)
                               ).scalar_one_or_none()
    if agent is None:
        raise NotFound("Agent not found", code="AGENT_NOT_FOUND")
    return agent
