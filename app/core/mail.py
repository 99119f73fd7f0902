"""Outgoing mail: through the SMTP server of the settings, or into the log when none is set."""

import logging
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage

from app.core.settings import Settings

logger = logging.getLogger("carreau.mail")


def send_mail(settings: Settings, *, to: str, subject: str, body: str,
              headers: Mapping[str, str] | None = None) -> None:
    """Send one plain-text mail; `headers` adds more (e.g. List-Unsubscribe)."""
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    if not settings.smtp_host:
        # Laptop mode (make run): no SMTP server, so the mail, links included, goes to the log.
        logger.warning("No SMTP server configured (CARREAU_SMTP_HOST); mail not sent.\nTo: %s\nSubject: %s\n\n%s",
                       to, subject, body)
        return
    context = ssl.create_default_context()
    if settings.smtp_ssl:
        client: smtplib.SMTP = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, context=context, timeout=15)
    else:
        client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=15)
    with client:
        if settings.smtp_starttls and not settings.smtp_ssl:
            client.starttls(context=context)
        if settings.smtp_username:
            client.login(settings.smtp_username, settings.smtp_password.get_secret_value())
        client.send_message(message)
