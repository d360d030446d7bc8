"""The snippet a customer pastes into a web page to load the chat widget (CONTRACT G11, Appendix C).

The loader sets `window.AIChatWidget` and loads the bundle from `<BASE_URL>/api/widget.js`;
the bundle strips the trailing `/v1` of `apiUrl` and calls `<apiUrl>/v1/...` itself.
"""
from __future__ import annotations

import json

from flask import current_app

from knowrithm.infra.errors import ValidationFailed

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
