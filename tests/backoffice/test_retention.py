"""`carreau purge`: each retention period of docs/registre-des-traitements.md, at the fixed clock
(NOW), deletes exactly the rows whose period is over; a second run deletes nothing."""

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, col, func, select

from app.accounts import service as accounts
from app.accounts.models import AccountToken, AccountTokenKind, OidcIdentity, User, UserSession
from app.audit.models import AuditEntry
from app.backoffice import retention
from app.notifications.models import Notification
from tests.factories import NOW, make_consultation, make_proposal, make_user
from tests.support import cli_database, invoke, logging_kept

IDLE = timedelta(minutes=30)
DAY = timedelta(days=1)


def _session_row(session: Session, key: str, user: User, *, last_seen: datetime, expires: datetime) -> None:
    session.add(UserSession(token_hash=key, user_id=user.id, data={}, created_at=last_seen - timedelta(hours=1),
                            last_seen_at=last_seen, expires_at=expires))


def _token(session: Session, user: User, key: str, *, expires: datetime, used: datetime | None = None) -> None:
    session.add(AccountToken(user_id=user.id, kind=AccountTokenKind.reset_password, token_hash=key,
                             created_at=expires - timedelta(hours=1), expires_at=expires, used_at=used))


def _notification(session: Session, user: User, title: str, *, created: datetime, read: bool) -> None:
    session.add(Notification(user_id=user.id, kind="comment_reply", target_type="proposal", target_id=1, title=title,
                             url="/", created_at=created, read_at=created + DAY if read else None))


def _unconfirmed(session: Session, name: str, created: datetime) -> User:
    return accounts.create_user(session, display_name=name, email=f"{name.lower().replace(' ', '.')}@example.fr",
                                password="une phrase de passe assez longue", now=created)


def seed(session: Session) -> dict[str, User]:
    resident = make_user(session, name="Résidente active")
    people = {
        "resident": resident,
        "old unconfirmed": _unconfirmed(session, "Jamais confirme", NOW - 31 * DAY),
        "recent unconfirmed": _unconfirmed(session, "Pas encore confirme", NOW - 29 * DAY),
        "unconfirmed with identity": _unconfirmed(session, "Venu par FranceConnect", NOW - 90 * DAY),
        "unconfirmed author": _unconfirmed(session, "Auteur non confirme", NOW - 90 * DAY),
    }
    session.add(OidcIdentity(user_id=people["unconfirmed with identity"].id, provider="fc", issuer="https://fc",
                             subject="abc", created_at=NOW - 90 * DAY))
    make_proposal(session, make_consultation(session, phase="proposals"), people["unconfirmed author"])
    # The unconfirmed account's own confirmation link goes with it (cascade), counted once, as the account.
    session.add(AccountToken(user_id=people["old unconfirmed"].id, kind=AccountTokenKind.confirm_email,
                             token_hash="confirm-old", created_at=NOW - 5 * DAY, expires_at=NOW - 3 * DAY))

    minute, hours3 = timedelta(minutes=1), timedelta(hours=3)
    _session_row(session, "ended", resident, last_seen=NOW - 20 * minute, expires=NOW - minute)
    _session_row(session, "idle", resident, last_seen=NOW - IDLE - timedelta(seconds=1), expires=NOW + hours3)
    _session_row(session, "alive", resident, last_seen=NOW - 5 * minute, expires=NOW + hours3)

    _token(session, resident, "used-8-days-ago", expires=NOW - 8 * DAY + timedelta(hours=1), used=NOW - 8 * DAY)
    _token(session, resident, "used-6-days-ago", expires=NOW - 6 * DAY + timedelta(hours=1), used=NOW - 6 * DAY)
    _token(session, resident, "expired-8-days-ago", expires=NOW - 8 * DAY)
    _token(session, resident, "expired-yesterday", expires=NOW - DAY)
    _token(session, resident, "valid", expires=NOW + timedelta(hours=1))

    _notification(session, resident, "read, 13 months", created=NOW - 396 * DAY, read=True)
    _notification(session, resident, "read, 11 months", created=NOW - 334 * DAY, read=True)
    _notification(session, resident, "unread, 13 months", created=NOW - 396 * DAY, read=False)
    _notification(session, resident, "unread, 25 months", created=NOW - 761 * DAY, read=False)
    session.flush()
    return people


def _state(session: Session) -> dict[str, set[str]]:
    return {
        "sessions": set(session.exec(select(UserSession.token_hash)).all()),
        "tokens": set(session.exec(select(AccountToken.token_hash)).all()),
        "notifications": set(session.exec(select(Notification.title)).all()),
        "people": {u.display_name or "" for u in session.exec(select(User)).all()},
    }


def _purge_entries(session: Session) -> int:
    return session.exec(select(func.count()).select_from(AuditEntry)
                        .where(col(AuditEntry.action) == "retention.purged")).one()


def test_purge_removes_exactly_what_has_outlived_its_period(session: Session) -> None:
    seed(session)
    before = _state(session)

    dry = retention.purge(session, now=NOW, session_idle=IDLE, dry_run=True)
    expected = {
        "expired sessions": 2,
        "used or expired account tokens (7 days after)": 2,
        "notifications read over 12 months ago, or unread over 24": 2,
        "accounts never confirmed after 30 days": 1,
    }
    assert dry.removed == expected
    assert dry.lines()[0] == "expired sessions: would remove 2"
    assert _state(session) == before
    assert _purge_entries(session) == 0

    report = retention.purge(session, now=NOW, session_idle=IDLE)
    assert report.removed == expected
    after = _state(session)
    assert before["sessions"] - after["sessions"] == {"ended", "idle"}
    assert before["tokens"] - after["tokens"] == {"used-8-days-ago", "expired-8-days-ago", "confirm-old"}
    assert before["notifications"] - after["notifications"] == {"read, 13 months", "unread, 25 months"}
    assert before["people"] - after["people"] == {"Jamais confirme"}
    kept = {"Pas encore confirme", "Venu par FranceConnect", "Auteur non confirme", "Résidente active"}
    assert kept <= after["people"]
    entry = session.exec(select(AuditEntry).where(col(AuditEntry.action) == "retention.purged")).one()
    assert entry.after == {name: n for name, n in expected.items()}
    assert entry.actor_label == "carreau purge"

    again = retention.purge(session, now=NOW, session_idle=IDLE)
    assert again.total == 0
    assert _state(session) == after
    assert _purge_entries(session) == 1  # nothing removed, nothing recorded


def test_the_periods_move_with_the_clock(session: Session) -> None:
    seed(session)
    retention.purge(session, now=NOW, session_idle=IDLE)
    later = retention.purge(session, now=NOW + 8 * DAY, session_idle=IDLE)
    # A week on: 'used 6 days ago', 'expired yesterday' and 'valid' are 7 days past; 'Pas encore
    # confirme' is 37 days old; 'alive' ended; the notifications are not old enough yet.
    assert later.removed == {
        "expired sessions": 1,
        "used or expired account tokens (7 days after)": 3,
        "notifications read over 12 months ago, or unread over 24": 0,
        "accounts never confirmed after 30 days": 1,
    }


@pytest.fixture
def _keep_logging():
    with logging_kept():
        yield


@pytest.mark.usefixtures("_keep_logging")
def test_the_command_prints_what_it_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with cli_database(tmp_path, monkeypatch):
        invoke("db", "upgrade")
        output = invoke("purge", "--dry-run")
        assert "expired sessions: would remove 0" in output
        assert "Would remove 0 rows in all." in output
        assert "Removed 0 rows in all." in invoke("purge")
