"""`carreau purge`: the retention periods of docs/registre-des-traitements.md, enforced.

Each rule deletes the rows whose period is over, and nothing else; running the job twice removes
nothing the second time. What is NOT purged here, on purpose:
- the audit log (`audit_entry`): the database refuses DELETE on it (append-only, see the accounts
  migration). It is kept for the duration of the programme plus 5 years; the operator archives
  it (a `carreau backup`) and, when that period ends, removes it through an explicit, audited
  database operation outside the application (documented in docs/registre-des-traitements.md);
- votes, ballots and published results: they are the consultations' record; erasing an account
  already cuts every link between a vote and a person;
- rate-limit counters: they live in memory or in Redis and expire with their window;
- sessions kept in Redis: Redis expires them itself (TTL = idle timeout).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, func, or_
from sqlalchemy import delete as sql_delete
from sqlalchemy import select as sql_select
from sqlmodel import Session, col

from app.accounts.models import AccessToken, AccountToken, OidcIdentity, RoleGrant, User, UserSession
from app.audit import service as audit
from app.moderation.models import Report
from app.notifications.models import Notification
from app.proposals.models import Comment, Proposal
from app.voting.models import Ballot, SupportVote

# The periods, in one place (the register of processing quotes them).
ACCOUNT_TOKENS_KEPT = timedelta(days=7)  # after a mailed link or claim code was used or expired
UNCONFIRMED_ACCOUNTS_KEPT = timedelta(days=30)  # an address never confirmed
READ_NOTIFICATIONS_KEPT = timedelta(days=365)
UNREAD_NOTIFICATIONS_KEPT = timedelta(days=730)


@dataclass(frozen=True)
class Rule:
    name: str  # what the operator reads
    table: str
    condition: Callable[[datetime, timedelta], ColumnElement[bool]]  # (now, session idle timeout)


def _expired_sessions(now: datetime, idle: timedelta) -> ColumnElement[bool]:
    # A session is over at its absolute end or after `idle` without a request (see sessions.py).
    return or_(col(UserSession.expires_at) <= now, col(UserSession.last_seen_at) <= now - idle)


def _spent_account_tokens(now: datetime, idle: timedelta) -> ColumnElement[bool]:
    limit = now - ACCOUNT_TOKENS_KEPT
    return or_(col(AccountToken.expires_at) <= limit, col(AccountToken.used_at) <= limit)


def _old_notifications(now: datetime, idle: timedelta) -> ColumnElement[bool]:
    return or_(
        and_(col(Notification.read_at).is_not(None), col(Notification.created_at) <= now - READ_NOTIFICATIONS_KEPT),
        col(Notification.created_at) <= now - UNREAD_NOTIFICATIONS_KEPT,
    )


def _references(model: Any, column: Any) -> ColumnElement[bool]:
    return exists(sql_select(1).select_from(model).where(column == User.id))


def _unconfirmed_accounts(now: datetime, idle: timedelta) -> ColumnElement[bool]:
    """Local sign-ups whose address was never confirmed: such an account cannot sign in, so it
    holds nothing but what was typed at sign-up. Anything else (an identity provider, a role, a
    contribution, a mediator's registration) keeps the account out of this rule."""
    return and_(
        col(User.email).is_not(None),
        col(User.is_email_confirmed).is_(false()),
        col(User.erased_at).is_(None),
        col(User.last_sign_in_at).is_(None),
        col(User.registered_by_id).is_(None),
        col(User.created_at) <= now - UNCONFIRMED_ACCOUNTS_KEPT,
        ~_references(OidcIdentity, col(OidcIdentity.user_id)),
        ~_references(RoleGrant, col(RoleGrant.user_id)),
        ~_references(AccessToken, col(AccessToken.user_id)),
        ~_references(Proposal, col(Proposal.author_id)),
        ~_references(Comment, col(Comment.author_id)),
        ~_references(Report, col(Report.reporter_id)),
        ~_references(SupportVote, col(SupportVote.voter_id)),
        ~_references(Ballot, col(Ballot.voter_id)),
    )


RULES: tuple[tuple[Rule, Any], ...] = (
    (Rule("expired sessions", "user_session", _expired_sessions), UserSession),
    (Rule("used or expired account tokens (7 days after)", "account_token", _spent_account_tokens), AccountToken),
    (Rule("notifications read over 12 months ago, or unread over 24", "notification", _old_notifications),
     Notification),
    (Rule("accounts never confirmed after 30 days", "user_account", _unconfirmed_accounts), User),
)


@dataclass
class PurgeReport:
    removed: dict[str, int] = field(default_factory=dict)  # rule name -> rows
    dry_run: bool = False

    @property
    def total(self) -> int:
        return sum(self.removed.values())

    def lines(self) -> list[str]:
        verb = "would remove" if self.dry_run else "removed"
        return [f"{name}: {verb} {n}" for name, n in self.removed.items()]


def purge(session: Session, *, now: datetime, session_idle: timedelta, dry_run: bool = False) -> PurgeReport:
    """Delete what has outlived its retention period (flush only: the caller commits). With
    `dry_run`, count without deleting. Accounts go last, so that their tokens and sessions are
    counted by their own rules; what still hangs on a deleted account (its follows, notifications,
    sessions, tokens) goes with it (ON DELETE CASCADE)."""
    report = PurgeReport(dry_run=dry_run)
    for rule, model in RULES:
        condition = rule.condition(now, session_idle)
        if dry_run:
            count = session.exec(sql_select(func.count()).select_from(model).where(condition)).one()  # type: ignore[call-overload]
            report.removed[rule.name] = int(count[0])
        else:
            result = session.exec(sql_delete(model).where(condition))  # type: ignore[call-overload]
            report.removed[rule.name] = int(result.rowcount or 0)
    if not dry_run and report.total:
        audit.record(session, actor_id=None, actor_label="carreau purge", action="retention.purged",
                     target_type="platform", target_id="retention", now=now, channel="system",
                     after={name: n for name, n in report.removed.items() if n})
    session.flush()
    return report
