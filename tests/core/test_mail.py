"""Outgoing mail: to a real SMTP server on loopback, or into the log when none is configured."""

import logging
from pathlib import Path

import pytest

from app.core.mail import send_mail
from app.core.settings import Settings
from tests.conftest import SmtpServer

LINK = "http://testserver/inscription/confirmer?jeton=Zm9vYmFyYmF6cXV4LXRva2VuLWxvbmctZW5vdWdoLXRvLXdyYXA"
BODY = (
    "Bonjour,\n\nPour activer votre compte Carreau, ouvrez ce lien (valable 48 heures) :\n"
    f"{LINK}\n\nSi vous n’avez rien demandé, ignorez ce message. Liévin, Hénin-Beaumont, Œuvre."
)
SUBJECT = "Confirmez votre adresse électronique"


def make_settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(_env_file=None, var_dir=tmp_path / "var", secret_key="x" * 40, **values)


def test_mail_goes_to_the_smtp_server(tmp_path: Path, smtp_server: SmtpServer) -> None:
    settings = make_settings(tmp_path, mail_from="Carreau <ne-pas-repondre@carreau.test>", **smtp_server.settings)
    send_mail(settings, to="angela@exemple.fr", subject=SUBJECT, body=BODY)
    message = smtp_server.pop()
    assert message["To"] == "angela@exemple.fr"
    assert message["From"] == "Carreau <ne-pas-repondre@carreau.test>"
    assert message["Subject"] == SUBJECT  # an RFC 2047 encoded word on the wire, decoded here
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    # The long link line makes it quoted-printable: the link is cut and "=" escaped on the wire...
    assert message["Content-Transfer-Encoding"] == "quoted-printable"
    assert LINK not in message.as_string()
    # ...and whole again once decoded, like every accented letter.
    assert message.get_content().rstrip("\n") == BODY


def test_several_mails_each_arrive(tmp_path: Path, smtp_server: SmtpServer) -> None:
    settings = make_settings(tmp_path, **smtp_server.settings)
    for to in ("a@exemple.fr", "b@exemple.fr"):
        send_mail(settings, to=to, subject="Bonjour", body="Court.")
    assert [m["To"] for m in smtp_server.messages] == ["a@exemple.fr", "b@exemple.fr"]
    assert [m.get_content() for m in smtp_server.messages] == ["Court.\n", "Court.\n"]


def test_without_smtp_server_the_mail_goes_to_the_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(tmp_path)
    assert settings.smtp_host == ""
    with caplog.at_level(logging.WARNING, logger="carreau.mail"):
        send_mail(settings, to="angela@exemple.fr", subject=SUBJECT, body=BODY)
    (record,) = [r for r in caplog.records if r.name == "carreau.mail"]
    assert record.levelno == logging.WARNING
    text = record.getMessage()
    assert "CARREAU_SMTP_HOST" in text
    assert "To: angela@exemple.fr" in text
    assert f"Subject: {SUBJECT}" in text
    # Readable as typed: the link whole, accents as they are (no quoted-printable).
    assert LINK in text
    assert BODY in text


def test_unreachable_smtp_server_is_an_error(tmp_path: Path) -> None:
    """A mail that cannot leave is not reported as sent."""
    settings = make_settings(tmp_path, smtp_host="127.0.0.1", smtp_port=1, smtp_starttls=False)
    with pytest.raises(ConnectionRefusedError):
        send_mail(settings, to="a@exemple.fr", subject="Bonjour", body="Personne n’écoute.")
