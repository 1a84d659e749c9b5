"""Outgoing mail over SMTP (`SMTP_*` config): one adapter, explicit timeouts, every library or network error
turned into `UpstreamError` so that the job sending it is retried later."""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from flask import current_app

from wxbackend.core.errors import UpstreamError

log = logging.getLogger(__name__)


class MailFailed(UpstreamError):
    code, message = "mail_failed", "邮件暂时无法发送，稍后将自动重试"


def build_message(to: str, subject: str, text: str) -> EmailMessage:
    cfg = current_app.config
    message = EmailMessage()
    message["From"] = cfg["SMTP_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    domain = parseaddr(cfg["SMTP_FROM"])[1].partition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(text, charset="utf-8", cte="base64")
    return message


def send_mail(to: str, subject: str, text: str) -> str:
    """Send one plain-text mail; returns its Message-ID. MailFailed when the server cannot be reached, refuses
    the login or the recipient, or times out."""
    cfg = current_app.config
    message = build_message(to, subject, text)
    timeout = cfg["SMTP_TIMEOUT_SECONDS"]
    host, port = cfg["SMTP_HOST"], cfg["SMTP_PORT"]
    try:
        if cfg["SMTP_SSL"]:
            client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            if cfg["SMTP_STARTTLS"] and not cfg["SMTP_SSL"]:
                client.starttls(context=ssl.create_default_context())
            if cfg["SMTP_USER"]:
                client.login(cfg["SMTP_USER"], cfg["SMTP_PASSWORD"])
            client.send_message(message)
    except (smtplib.SMTPException, OSError) as failed:
        log.warning("mail to %s via %s:%s failed: %s", mask_address(to), host, port, failed)
        raise MailFailed() from failed
    return message["Message-ID"]


def mask_address(address: str) -> str:
    """it@example.cn → i*@example.cn, for logs."""
    local, _, domain = address.partition("@")
    return (local[:1] + "*" * max(len(local) - 1, 1)) + "@" + domain
