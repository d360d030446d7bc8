"""Mail delivery runs in the worker: SMTP or Resend can be slow or briefly down."""
from __future__ import annotations

import smtplib

import requests
from celery import shared_task

from .email import deliver

# Network trouble is worth retrying; a rejected recipient or bad credentials are not.
TRANSIENT = (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, smtplib.SMTPDataError,
             ConnectionError, TimeoutError, requests.ConnectionError, requests.Timeout, requests.HTTPError)


@shared_task(name="knowrithm.auth.send_email", autoretry_for=TRANSIENT, max_retries=4, retry_backoff=5,
             retry_backoff_max=300, retry_jitter=True)
def send_email(*, to: str, subject: str, text: str, html: str | None = None, company_id: str | None = None) -> dict:
    transport = deliver(to=to, subject=subject, text=text, html=html)
    # The task result is public by task id: never echo the body (it carries tokens).
    return {"sent": True, "transport": transport}
