"""Emails of notifications, sent by the `carreau notifications send` job (after it announced the
phases that started, see service.announce_phase_starts).

Run it often (every few minutes from cron). It is safe to repeat and to run twice at once:
a notification is emailed at most once: the job first claims it (sets `emailed_at` in a committed
  UPDATE … WHERE emailed_at IS NULL), then sends; when the mail server fails, the claim is undone,
  so the next run tries again. Only a crash between the claim and the sending loses a mail.
"""

import logging
import smtplib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import exists, or_, select, update
from sqlmodel import Session, col

from app.accounts.models import User
from app.core.i18n import gettext as _
from app.core.i18n import ngettext
from app.core.mail import send_mail
from app.core.settings import Settings
from app.core.templating import format_moment
from app.notifications.models import EmailFrequency, Notification, NotificationPreference
from app.notifications.policy import unsubscribe_token

logger = logging.getLogger("carreau.notifications")

# A daily digest goes out when the last one is at least this old (a little under a day, so that
# a job run at the same hour every day is never a few seconds too early).
DIGEST_INTERVAL = timedelta(hours=23)
Sender = Callable[..., None]


@dataclass
class DeliveryReport:
    emails_sent: int = 0
    digests_sent: int = 0
    skipped: int = 0  # notifications of people who want no email (or have no address)
    failures: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (f"{self.emails_sent} email(s) and {self.digests_sent} digest(s) sent; "
                f"{self.skipped} notification(s) needing no email.")
        if self.failures:
            text += f" {len(self.failures)} failure(s), retried at the next run: " + "; ".join(self.failures)
        return text


# --- emails


def _links(settings: Settings, user_id: int) -> dict[str, str]:
    base = settings.base_url.rstrip("/")
    return {
        "list": f"{base}/notifications",
        "preferences": f"{base}/notifications/preferences",
        "unsubscribe": f"{base}/notifications/desabonnement/{unsubscribe_token(settings.secret_key, user_id)}",
    }


def _absolute(settings: Settings, url: str) -> str:
    return url if url.startswith(("http://", "https://")) else settings.base_url.rstrip("/") + url


@dataclass(frozen=True)
class Recipient:
    id: int
    email: str
    name: str


@dataclass(frozen=True)
class Item:
    """What an email says of one notification (read once: no database access while sending)."""

    id: int
    title: str
    url: str
    body: str
    created_at: datetime


def compose(settings: Settings, user: Recipient, notifications: Sequence[Item], *,
            digest: bool) -> tuple[str, str, dict[str, str]]:
    """Subject, plain-text body and headers of one email (one notification, several, or the digest)."""
    links = _links(settings, user.id)
    count = len(notifications)
    if digest:
        subject = _("Votre résumé du jour : %(what)s", what=ngettext(
            "%(num)d nouvelle notification", "%(num)d nouvelles notifications", count) % {"num": count})
        intro = _("Voici ce qui s’est passé depuis votre dernier résumé :")
    elif count == 1:
        subject = notifications[0].title
        intro = _("Du nouveau sur ce que vous suivez :")
    else:
        subject = _("%(count)s nouvelles notifications", count=count)
        intro = _("Du nouveau sur ce que vous suivez :")
    lines = [_("Bonjour %(name)s,", name=user.name), "", intro, ""]
    for notification in notifications:
        lines.append(f"- {notification.title}")
        if notification.body:
            lines.append(f"  {notification.body}")
        if digest:
            lines.append(f"  {format_moment(notification.created_at)}")
        lines.append(f"  {_absolute(settings, notification.url)}")
        lines.append("")
    lines += [
        _("Toutes vos notifications : %(link)s", link=links["list"]),
        _("Recevoir un résumé par jour, ou chaque notification dès qu’elle arrive : %(link)s",
          link=links["preferences"]),
        _("Ne plus recevoir ces courriels (en un clic) : %(link)s", link=links["unsubscribe"]),
        "",
        "— " + settings.operator_name,
    ]
    headers = {
        "List-Unsubscribe": f"<{links['unsubscribe']}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",  # RFC 8058: mail clients unsubscribe by a POST
        "Auto-Submitted": "auto-generated",
    }
    # One line whatever the titles hold (a line break in a header would fail the whole run).
    subject = " ".join(f"{settings.operator_name} — {subject}".split())
    return subject, "\n".join(lines) + "\n", headers


def _wants_no_email() -> object:
    """People whose notifications are never emailed: they said never, or have no usable address."""
    said_never = exists().where(
        NotificationPreference.__table__.c.user_id == Notification.__table__.c.user_id,  # type: ignore[attr-defined]
        col(NotificationPreference.email_frequency) == EmailFrequency.never,
    )
    no_address = exists().where(
        col(User.id) == col(Notification.user_id),
        or_(col(User.email).is_(None), col(User.is_email_confirmed).is_(False), col(User.erased_at).is_not(None)),
    )
    return or_(said_never, no_address)


def skip_unwanted(session: Session, *, now: datetime) -> int:
    """Mark as dealt with, without sending, what nobody wants by email. Commits."""
    result = session.execute(
        update(Notification).where(col(Notification.emailed_at).is_(None), _wants_no_email())
        .values(emailed_at=now).execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount or 0


def _claim(session: Session, user_id: int, *, now: datetime) -> list[Item]:
    """Take this person's unsent notifications for one email (no other job will send them). Commits,
    so that no transaction stays open (nor SQLite's write lock held) while the mail goes out."""
    rows = session.execute(
        update(Notification).where(col(Notification.user_id) == user_id, col(Notification.emailed_at).is_(None))
        .values(emailed_at=now)
        .returning(col(Notification.id), col(Notification.title), col(Notification.url), col(Notification.body),
                   col(Notification.created_at))
        .execution_options(synchronize_session=False)
    ).all()
    session.commit()
    return sorted((Item(*row) for row in rows), key=lambda item: (item.created_at, item.id))


def _release(session: Session, notifications: Sequence[Item]) -> None:
    """The mail could not go: give the notifications back to the next run. Commits."""
    session.execute(
        update(Notification).where(col(Notification.id).in_([n.id for n in notifications]))
        .values(emailed_at=None).execution_options(synchronize_session=False)
    )
    session.commit()


def _send(settings: Settings, sender: Sender, user: Recipient, notifications: Sequence[Item], *,
          digest: bool) -> None:
    subject, body, headers = compose(settings, user, notifications, digest=digest)
    sender(settings, to=user.email, subject=subject, body=body, headers=headers)


def _recipients(session: Session, frequency: EmailFrequency, *,
                digest_before: datetime | None = None) -> list[Recipient]:
    """People with unsent notifications who want them at this frequency (no row means immediate)."""
    preference = NotificationPreference.__table__.c  # type: ignore[attr-defined]
    pending = exists().where(col(Notification.user_id) == col(User.id), col(Notification.emailed_at).is_(None))
    query = select(User.id, User.email, User.display_name).where(
        pending, col(User.email).is_not(None), col(User.is_email_confirmed).is_(True), col(User.erased_at).is_(None))
    if frequency == EmailFrequency.immediate:
        query = query.outerjoin(NotificationPreference, preference.user_id == col(User.id)).where(
            or_(preference.user_id.is_(None), preference.email_frequency == EmailFrequency.immediate))
    else:
        assert digest_before is not None
        query = query.join(NotificationPreference, preference.user_id == col(User.id)).where(
            preference.email_frequency == frequency,
            or_(preference.last_digest_at.is_(None), preference.last_digest_at <= digest_before))
    found = [Recipient(row[0], row[1], row[2] or "") for row in session.execute(query.order_by(col(User.id)))]
    session.commit()  # nothing held while mail goes out
    return found


class _MailServerDown(Exception):
    pass


def _deliver(session: Session, settings: Settings, sender: Sender, user: Recipient, *, now: datetime, digest: bool,
             report: DeliveryReport) -> bool:
    """Claim, send, and on failure give back. False when there was nothing to send."""
    notifications = _claim(session, user.id, now=now)
    if not notifications:
        return False
    try:
        _send(settings, sender, user, notifications, digest=digest)
    except smtplib.SMTPRecipientsRefused as error:
        _release(session, notifications)
        report.failures.append(f"user {user.id}: recipient refused ({error.recipients})")
        raise
    except (OSError, smtplib.SMTPException) as error:  # the server is down or refuses us: stop for now
        _release(session, notifications)
        report.failures.append(f"user {user.id}: {type(error).__name__}: {error}")
        raise _MailServerDown() from error
    return True


def _restore_digest(session: Session, user_id: int, previous: datetime | None, *, now: datetime) -> None:
    session.execute(
        update(NotificationPreference).where(col(NotificationPreference.user_id) == user_id,
                                             col(NotificationPreference.last_digest_at) == now)
        .values(last_digest_at=previous).execution_options(synchronize_session=False)
    )
    session.commit()


def _send_digest(session: Session, settings: Settings, sender: Sender, user: Recipient, *, now: datetime,
                 report: DeliveryReport) -> bool:
    """Claim the day's digest first (of two jobs running at once, one only sends it), then send it."""
    cutoff = now - DIGEST_INTERVAL
    mine = col(NotificationPreference.user_id) == user.id
    previous = session.execute(select(NotificationPreference.last_digest_at).where(mine)).scalar_one_or_none()
    claimed = session.execute(
        update(NotificationPreference)
        .where(mine, or_(col(NotificationPreference.last_digest_at).is_(None),
                         col(NotificationPreference.last_digest_at) <= cutoff))
        .values(last_digest_at=now).execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    if not claimed:
        return False
    try:
        sent = _deliver(session, settings, sender, user, now=now, digest=True, report=report)
    except (smtplib.SMTPRecipientsRefused, _MailServerDown):
        _restore_digest(session, user.id, previous, now=now)
        raise
    if not sent:
        _restore_digest(session, user.id, previous, now=now)
    return sent


def send_emails(session: Session, settings: Settings, *, now: datetime, sender: Sender = send_mail,
                report: DeliveryReport | None = None) -> DeliveryReport:
    """Email what is due: each person with `immediate` gets their unsent notifications now; each
    person with `daily` whose last digest is a day old gets one digest; the rest are marked as
    dealt with. A mail server failure stops the run and leaves the unsent notifications for the next."""
    report = report or DeliveryReport()
    report.skipped += skip_unwanted(session, now=now)
    try:
        for user in _recipients(session, EmailFrequency.immediate):
            try:
                if _deliver(session, settings, sender, user, now=now, digest=False, report=report):
                    report.emails_sent += 1
            except smtplib.SMTPRecipientsRefused:
                continue
        for user in _recipients(session, EmailFrequency.daily, digest_before=now - DIGEST_INTERVAL):
            try:
                if _send_digest(session, settings, sender, user, now=now, report=report):
                    report.digests_sent += 1
            except smtplib.SMTPRecipientsRefused:
                continue
    except _MailServerDown:
        logger.error("Mail server failure; unsent notifications are kept for the next run: %s", report.failures[-1])
    return report
