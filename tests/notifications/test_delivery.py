"""Emails of notifications, really sent to an SMTP server on loopback (aiosmtpd): immediate mails,
daily digests, nothing for `never`, never twice, and a mail server failure leaves the mail for the
next run. Then the `carreau notifications send` command end to end."""

import re
import socket
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from app.accounts import service as accounts
from app.core.db import make_engine
from app.core.settings import Settings
from app.notifications import delivery, service
from app.notifications.models import (
    EmailFrequency,
    FollowTarget,
    Notification,
    NotificationKind,
    NotificationPreference,
)
from app.notifications.policy import user_of_unsubscribe_token
from tests.conftest import SECRET, SmtpServer
from tests.factories import NOW, make_consultation, make_user
from tests.support import cli_database, invoke, logging_kept

HOUR = timedelta(hours=1)
BASE = "https://carreau.example.fr"
LINK = re.compile(r"https://carreau\.example\.fr/\S+")


@pytest.fixture
def mail_settings(settings: Settings, smtp_server: SmtpServer) -> Settings:
    return settings.model_copy(update={**smtp_server.settings, "base_url": BASE})


def tell(session: Session, user_id: int, title: str, *, at=NOW, url: str = "/propositions/7") -> None:
    service.notify(session, [user_id], kind=NotificationKind.official_answer, target_type="proposal", target_id=7,
                   title=title, url=url, now=at)


def unsent(session: Session, user_id: int) -> list[Notification]:
    session.expire_all()
    return list(session.exec(select(Notification).where(Notification.user_id == user_id,
                                                        col(Notification.emailed_at).is_(None))))


def test_immediate_notifications_are_emailed_once_with_links_and_unsubscribe_headers(
        session: Session, mail_settings: Settings, smtp_server: SmtpServer) -> None:
    alice = make_user(session, name="Alice", email="alice@example.fr")
    bob = make_user(session, name="Bob", email="bob@example.fr")
    tell(session, alice.id, "Réponse officielle à la proposition « Des bancs »")
    tell(session, bob.id, "Première", url="/propositions/1")
    tell(session, bob.id, "Seconde", url="/propositions/2#comment-3", at=NOW + HOUR)

    report = delivery.send_emails(session, mail_settings, now=NOW + 2 * HOUR)
    assert (report.emails_sent, report.digests_sent, report.failures) == (2, 0, [])
    by_recipient = {message["To"]: message for message in smtp_server.messages}
    assert set(by_recipient) == {"alice@example.fr", "bob@example.fr"}

    mail = by_recipient["alice@example.fr"]
    assert mail["Subject"] == "Carreau — Bassin minier — Réponse officielle à la proposition « Des bancs »"
    body = mail.get_content()
    assert body.startswith("Bonjour Alice,")
    assert "- Réponse officielle à la proposition « Des bancs »" in body
    links = LINK.findall(body)
    assert f"{BASE}/propositions/7" in links
    assert f"{BASE}/notifications/preferences" in links
    [unsubscribe] = [link for link in links if "/desabonnement/" in link]
    assert user_of_unsubscribe_token(SECRET, unsubscribe.rsplit("/", 1)[1]) == alice.id
    assert mail["List-Unsubscribe"] == f"<{unsubscribe}>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    bob_mail = by_recipient["bob@example.fr"]
    assert bob_mail["Subject"].endswith("2 nouvelles notifications")
    bob_body = bob_mail.get_content()
    assert bob_body.index("- Première") < bob_body.index("- Seconde")
    assert f"{BASE}/propositions/2#comment-3" in bob_body

    assert unsent(session, alice.id) == unsent(session, bob.id) == []
    smtp_server.messages.clear()
    assert delivery.send_emails(session, mail_settings, now=NOW + 3 * HOUR).emails_sent == 0  # never twice
    assert smtp_server.messages == []


def test_people_who_want_no_email_or_have_no_address_are_skipped(session: Session, mail_settings: Settings,
                                                                 smtp_server: SmtpServer) -> None:
    never = make_user(session, email="never@example.fr")
    service.set_email_frequency(session, never.id, EmailFrequency.never, now=NOW)
    unconfirmed = make_user(session, email="pas-confirmee@example.fr")
    unconfirmed.is_email_confirmed = False
    without_address = accounts.create_user(session, display_name="Sans adresse", email=None, now=NOW)
    session.flush()
    for user in (never, unconfirmed, without_address):
        tell(session, user.id, "Rien à envoyer")
    report = delivery.send_emails(session, mail_settings, now=NOW)
    assert (report.emails_sent, report.skipped) == (0, 3)
    assert smtp_server.messages == []
    for user in (never, unconfirmed, without_address):
        assert unsent(session, user.id) == []


def test_a_daily_digest_lists_the_days_notifications_once_a_day(session: Session, mail_settings: Settings,
                                                                smtp_server: SmtpServer) -> None:
    daily = make_user(session, name="Chloé", email="chloe@example.fr")
    service.set_email_frequency(session, daily.id, EmailFrequency.daily, now=NOW)
    tell(session, daily.id, "Le vote est ouvert : « Les terrils »", url="/consultations/terrils")
    tell(session, daily.id, "Nouvelle réponse à votre commentaire", at=NOW + HOUR)

    assert delivery.send_emails(session, mail_settings, now=NOW + 2 * HOUR).digests_sent == 1
    digest = smtp_server.pop()
    assert digest["To"] == "chloe@example.fr"
    assert digest["Subject"].endswith("Votre résumé du jour : 2 nouvelles notifications")
    body = digest.get_content()
    assert "- Le vote est ouvert : « Les terrils »" in body
    assert "- Nouvelle réponse à votre commentaire" in body
    assert f"{BASE}/consultations/terrils" in body
    assert "/notifications/desabonnement/" in digest["List-Unsubscribe"]
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert session.get(NotificationPreference, daily.id).last_digest_at == NOW + 2 * HOUR

    # More news the same day waits for tomorrow's digest.
    tell(session, daily.id, "Le lendemain", at=NOW + 3 * HOUR)
    assert delivery.send_emails(session, mail_settings, now=NOW + 12 * HOUR).digests_sent == 0
    assert smtp_server.messages == []
    assert len(unsent(session, daily.id)) == 1
    assert delivery.send_emails(session, mail_settings, now=NOW + 26 * HOUR).digests_sent == 1
    assert "- Le lendemain" in smtp_server.pop().get_content()
    # No news, no digest (and the day is not used up).
    assert delivery.send_emails(session, mail_settings, now=NOW + 60 * HOUR).digests_sent == 0
    session.expire_all()
    assert session.get(NotificationPreference, daily.id).last_digest_at == NOW + 26 * HOUR


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens there once the socket is closed


def test_a_mail_server_failure_leaves_the_mail_for_the_next_run(session: Session, mail_settings: Settings,
                                                               smtp_server: SmtpServer) -> None:
    now_user = make_user(session, email="tout-de-suite@example.fr")
    daily = make_user(session, email="resume@example.fr")
    service.set_email_frequency(session, daily.id, EmailFrequency.daily, now=NOW)
    tell(session, now_user.id, "Urgent")
    tell(session, daily.id, "Pour le résumé")
    down = mail_settings.model_copy(update={"smtp_port": _closed_port()})

    report = delivery.send_emails(session, down, now=NOW)
    assert (report.emails_sent, report.digests_sent) == (0, 0)
    assert report.failures
    assert "failure" in report.summary()
    assert len(unsent(session, now_user.id)) == 1
    session.expire_all()
    assert session.get(NotificationPreference, daily.id).last_digest_at is None  # the digest is still due

    report = delivery.send_emails(session, mail_settings, now=NOW + HOUR)  # the server is back
    assert (report.emails_sent, report.digests_sent, report.failures) == (1, 1, [])
    assert sorted(m["To"] for m in smtp_server.messages) == ["resume@example.fr", "tout-de-suite@example.fr"]
    assert unsent(session, now_user.id) == unsent(session, daily.id) == []


def test_a_failure_in_the_middle_keeps_what_was_sent_and_what_was_not(session: Session, mail_settings: Settings,
                                                                     smtp_server: SmtpServer) -> None:
    first, second = make_user(session, email="un@example.fr"), make_user(session, email="deux@example.fr")
    tell(session, first.id, "Pour un")
    tell(session, second.id, "Pour deux")
    sent: list[str] = []

    def flaky(settings: Settings, *, to: str, **mail: object) -> None:
        if sent:
            raise ConnectionResetError("the server went away")
        sent.append(to)

    report = delivery.send_emails(session, mail_settings, now=NOW, sender=flaky)
    assert report.emails_sent == 1
    assert len(report.failures) == 1
    assert unsent(session, first.id) == []
    assert [n.title for n in unsent(session, second.id)] == ["Pour deux"]


# --- the command


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_server: SmtpServer) -> Path:
    with logging_kept(), cli_database(tmp_path, monkeypatch) as path:
        for name, value in smtp_server.settings.items():
            monkeypatch.setenv(f"CARREAU_{name.upper()}", str(value))
        monkeypatch.setenv("CARREAU_BASE_URL", BASE)
        monkeypatch.setenv("CARREAU_SECRET_KEY", SECRET)
        monkeypatch.setattr("app.cli.utcnow", lambda: NOW)
        invoke("db", "upgrade")
        invoke("seed", "territory")
        yield path


def test_the_send_command_announces_phase_starts_once_and_emails_them(cli_db: Path, smtp_server: SmtpServer) -> None:
    engine = make_engine(f"sqlite:///{cli_db}")
    with Session(engine) as session:
        consultation = make_consultation(session, phase="voting")
        consultation.voting_starts_at = NOW - HOUR  # the vote opened an hour ago
        follower = make_user(session, name="Denise", email="denise@example.fr")
        service.follow(session, follower.id, FollowTarget.consultation, consultation.id, now=NOW)
        slug, title = consultation.slug, consultation.title
        session.commit()

    output = invoke("notifications", "send")
    assert "1 phase start(s) announced (1 notification(s)); 1 email(s) and 0 digest(s) sent" in output
    mail = smtp_server.pop()
    assert mail["To"] == "denise@example.fr"
    assert mail["Subject"].endswith(f"Le vote est ouvert : « {title} »")
    assert f"{BASE}/consultations/{slug}" in mail.get_content()

    output = invoke("notifications", "send")  # run again: nothing twice
    assert "0 phase start(s) announced (0 notification(s)); 0 email(s)" in output
    assert smtp_server.messages == []
    engine.dispose()


def test_a_title_with_a_line_break_makes_a_one_line_subject(session: Session, mail_settings: Settings,
                                                            smtp_server: SmtpServer) -> None:
    user = make_user(session, email="eve@example.fr")
    tell(session, user.id, "Une réponse\r\nBcc: quelquun@example.org")
    assert delivery.send_emails(session, mail_settings, now=NOW).emails_sent == 1
    mail = smtp_server.pop()
    assert mail["Subject"].endswith("Une réponse Bcc: quelquun@example.org")
    assert mail["Bcc"] is None
    assert mail["To"] == "eve@example.fr"
