"""The widget's Socket.IO channel: who may connect, and which conversations they may join.

A client connects with an access token in `auth.token` (the widget sends its lead token; a
user's access token works too) and joins conversations by id; each join is checked with the
same rule as the REST routes (`service.load`, i.e. `access.may_reach`: a lead reaches only the
conversations its visitor session started, a user only its company's). Joined clients get `chat_status` and `chat_response` for that
conversation, with the payloads of the SSE stream (events.py publishes both).
"""
from __future__ import annotations

import logging

from knowrithm.domains.auth.principal import principal_from_token
from knowrithm.infra import realtime
from knowrithm.infra.db import db
from knowrithm.infra.errors import ApiError
from knowrithm.infra.tenancy import company_scope

from . import events, service

log = logging.getLogger(__name__)


def room(conversation_id) -> str:
    return f"conversation:{conversation_id}"


def _token(environ: dict, auth) -> str | None:
    if isinstance(auth, dict) and isinstance(auth.get("token"), str):
        return auth["token"].strip() or None
    header = environ.get("HTTP_AUTHORIZATION", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else None


def participant_room(conversation_id) -> str:
    """The conversation's own visitor or user, without staff watching it."""
    return f"{room(conversation_id)}:participant"


def _answers_delivered(app):
    def hook(manager, event, data, to) -> None:
        # An answer that reached the participant's socket on this node counts as received, as
        # on an SSE stream: a stream opened later does not replay it (docs/api-compatibility.md).
        if event != "chat_response" or not isinstance(data, dict) or not data.get("conversation_id"):
            return
        conversation_id = data["conversation_id"]
        if to == room(conversation_id) and realtime.local_members(manager, participant_room(conversation_id)):
            with app.app_context():
                events.answers_received(conversation_id, [data.get("message_id")])
    return hook


@realtime.on_init
def register(sio, app) -> None:
    if hasattr(sio.manager, "delivery_hooks"):
        sio.manager.delivery_hooks.append(_answers_delivered(app))

    def principal_for(token: str, environ: dict):
        # The handshake's own request: token checks read its headers (the page's Origin, for one).
        with app.request_context(environ):
            try:
                principal = principal_from_token(token)
                service.check_lead(principal)
                return principal
            finally:
                db.session.remove()

    @sio.on("connect")
    def connect(sid, environ, auth=None):
        token = _token(environ, auth)
        if not token:
            raise ConnectionRefusedError("authentication required: pass the access token in auth.token")
        try:
            principal = principal_for(token, environ)
        except ApiError as exc:
            raise ConnectionRefusedError(exc.message) from None
        sio.save_session(sid, {"principal": principal})

    @sio.on("join_conversation")
    def join_conversation(sid, data):
        conversation_id = (data or {}).get("conversation_id") if isinstance(data, dict) else None
        principal = sio.get_session(sid)["principal"]
        try:
            with app.app_context(), company_scope(principal.company_id):
                try:
                    service.check_lead(principal)  # a lead deleted since it connected is out
                    conv = service.load(conversation_id, principal)
                    conversation_id = str(conv.id)
                    participant = service.is_participant(conv, principal)
                finally:
                    db.session.remove()
        except ApiError as exc:
            sio.emit("conversation_error", {"error": exc.message, "code": exc.code,
                                            "conversation_id": conversation_id}, to=sid)
            return
        sio.enter_room(sid, room(conversation_id))
        if participant:
            sio.enter_room(sid, participant_room(conversation_id))
        sio.emit("conversation_joined", {"conversation_id": conversation_id}, to=sid)

    @sio.on("leave_conversation")
    def leave_conversation(sid, data):
        conversation_id = (data or {}).get("conversation_id") if isinstance(data, dict) else None
        if conversation_id:
            sio.leave_room(sid, room(conversation_id))
