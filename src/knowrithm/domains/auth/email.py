"""Account mails (verification, password reset) and their delivery.

Services call `send_verification_email(user)` / `send_password_reset(user)`: the mail is
composed here and handed to the `knowrithm.auth.send_email` task, which delivers it
after the caller's transaction commits. Delivery goes through Resend's HTTP API when
`RESEND_API_KEY` is set, else SMTP (`SMTP_*`); with neither configured nothing is queued
(a development install has no mail server and must still work).
"""
from __future__ import annotations

import hashlib
import logging
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

import requests
from flask import current_app

from knowrithm.infra.tasks import enqueue

from . import tokens

log = logging.getLogger(__name__)

VERIFY_PURPOSE = "email_verify"
RESET_PURPOSE = "password_reset"
VERIFY_TTL = 48 * 3600
RESET_TTL = 2 * 3600


def _settings():
    return current_app.config["SETTINGS"]


def transport_configured(settings=None) -> bool:
    settings = settings or _settings()
    return bool(settings.RESEND_API_KEY or settings.SMTP_SERVER)


def password_fingerprint(password_hash: str) -> str:
    """Ties a reset token to the password it replaces: once changed, old links stop working."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def queue_email(*, to: str, subject: str, text: str, html: str | None = None) -> bool:
    """Queues one mail; commits the current transaction (the task is sent after commit)."""
    if not transport_configured():
        log.warning("no mail transport configured (SMTP_SERVER / RESEND_API_KEY); not sending %r", subject)
        return False
    from .tasks import send_email

    enqueue(send_email, to=to, subject=subject, text=text, html=html)
    return True


def send_verification_email(user) -> bool:
    token = tokens.issue_purpose(user, VERIFY_PURPOSE, VERIFY_TTL)
    link = f"{_settings().BASE_URL.rstrip('/')}/verify?token={token}"
    name = user.first_name or user.username
    text = (f"Hello {name},\n\nConfirm your email address for Knowrithm by opening this link:\n{link}\n\n"
            f"Or send this verification token to POST /api/v1/verify:\n{token}\n\n"
            f"The link expires in {VERIFY_TTL // 3600} hours. If you did not sign up, ignore this mail.\n")
    return queue_email(to=user.email, subject="Verify your Knowrithm email address", text=text)


def send_password_reset(user) -> bool:
    """Mails a one-time password-reset token (used by the admin's force-password-reset too)."""
    token = tokens.issue_purpose(user, RESET_PURPOSE, RESET_TTL, pwd=password_fingerprint(user.password_hash))
    link = f"{_settings().BASE_URL.rstrip('/')}/reset-password?token={token}"
    name = user.first_name or user.username
    text = (f"Hello {name},\n\nA password reset was requested for your Knowrithm account.\n"
            f"Choose a new password here:\n{link}\n\n"
            f"Or send this token with your new password to POST /api/v1/auth/reset-password:\n{token}\n\n"
            f"The token expires in {RESET_TTL // 3600} hours and works once.\n")
    return queue_email(to=user.email, subject="Reset your Knowrithm password", text=text)


# --- delivery (runs in the worker) ----------------------------------------------------------

def deliver(*, to: str, subject: str, text: str, html: str | None = None, settings=None) -> str:
    """Sends one mail now; returns the transport used. Raises on transport errors (the task retries)."""
    settings = settings or _settings()
    if settings.RESEND_API_KEY:
        _deliver_resend(settings, to, subject, text, html)
        return "resend"
    if settings.SMTP_SERVER:
        _deliver_smtp(settings, to, subject, text, html)
        return "smtp"
    raise RuntimeError("no mail transport configured")


def _deliver_resend(settings, to, subject, text, html) -> None:
    payload = {"from": settings.MAIL_FROM, "to": [to], "subject": subject, "text": text}
    if html:
        payload["html"] = html
    resp = requests.post(f"{settings.RESEND_API_URL.rstrip('/')}/emails", json=payload, timeout=15,
                         headers={"Authorization": f"Bearer {settings.RESEND_API_KEY}"})
    if resp.status_code >= 500 or resp.status_code == 429:
        resp.raise_for_status()  # transient: the task retries
    if resp.status_code >= 400:
        raise PermanentMailError(f"Resend refused the mail: HTTP {resp.status_code} {resp.text[:200]}")


def _deliver_smtp(settings, to, subject, text, html) -> None:
    msg = EmailMessage()
    msg["From"] = settings.MAIL_FROM
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="knowrithm")
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    smtp_cls = smtplib.SMTP_SSL if settings.SMTP_PORT == 465 else smtplib.SMTP
    with smtp_cls(settings.SMTP_SERVER, settings.SMTP_PORT, timeout=15) as smtp:
        if settings.SMTP_USE_TLS and smtp_cls is smtplib.SMTP:
            smtp.starttls()
        if settings.SMTP_USERNAME:
            smtp.login(settings.SMTP_USERNAME, settings.SMTP_PASSWORD or "")
        smtp.send_message(msg)


class PermanentMailError(Exception):
    """The provider rejected the mail itself; retrying would not help."""
