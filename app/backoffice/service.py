"""The back office: who reaches it and which tools each person sees; the audit log, filtered and
scoped to what the reader may see, a page at a time or as a CSV stream.

Who reads which entries is the policy's answer (Action.view_audit_log): admins read the whole log;
a moderator reads the entries about their axes and consultations, found by following the entry's
target to its consultation (a proposal, a comment, an action… belongs to one), plus their own acts.
Entries about people (roles, residence checks, erasures) have no consultation: admins only."""

import base64
import binascii
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, String, and_, cast, false, or_, true
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from app.accounts.models import Role
from app.accounts.policy import Action, Principal, Scope, can
from app.actions.models import ActionEvaluation, PublicAction
from app.audit.models import AuditEntry
from app.consultations.models import Consultation
from app.core.csv import csv_rows
from app.core.errors import DomainError, Forbidden, SignInRequired
from app.core.i18n import N_, ngettext
from app.core.i18n import gettext as _
from app.core.templating import PARIS
from app.moderation import service as moderation
from app.proposals.models import Comment, Proposal
from app.territory.models import Axis, Commune

STAFF_ROLES = (Role.moderator, Role.mediator, Role.evaluator, Role.admin)
PAGE_SIZE = 50
API_MAX_LIMIT = 200
EXPORT_BATCH = 500  # rows fetched at a time by the CSV export


class NotStaff(Forbidden):
    code = "back-office-only"
    message = N_("Le back-office est réservé aux modérateurs, médiateurs, évaluateurs et administrateurs.")


class InvalidAuditFilter(DomainError):
    """Filters that cannot be understood; `errors` names each field with its messages."""

    status_code = 422
    code = "invalid-audit-filter"
    message = N_("Certains filtres du journal ne sont pas valables.")

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__()
        self.errors = errors


# --- The back office's home


def is_staff(principal: Principal | None) -> bool:
    """Whether the back office (and the "Gestion" link) is for this person."""
    return principal is not None and not principal.user.is_erased and any(
        principal.has_role(role) for role in STAFF_ROLES
    )


def require_staff(principal: Principal | None) -> Principal:
    if principal is None:
        raise SignInRequired()
    if not is_staff(principal):
        raise NotStaff()
    return principal


@dataclass(frozen=True)
class Tool:
    key: str
    title: str
    description: str
    href: str
    meta: str | None = None  # e.g. what awaits the person there


def can_read_audit_log(session: Session, principal: Principal) -> bool:
    """Whether some part of the log is for this person (the whole of it, or their axes' and consultations')."""
    if not (principal.is_admin or principal.has_role(Role.moderator)):
        return False
    try:
        audit_reach(session, principal)
    except Forbidden:
        return False
    return True


def _moderation_meta(session: Session, principal: Principal) -> str:
    """What awaits in the moderation queue, within the person's scope (two counts)."""
    waiting = moderation.queue(session, principal, kind="pending", limit=1)
    reported = ngettext("%(num)d contenu signalé", "%(num)d contenus signalés", waiting.reported) % {
        "num": waiting.reported}
    pending = ngettext("%(num)d proposition en attente", "%(num)d propositions en attente", waiting.pending) % {
        "num": waiting.pending}
    return _("À traiter : %(reported)s, %(pending)s", reported=reported, pending=pending)


def tools_for(session: Session, principal: Principal) -> list[Tool]:
    """The back-office pages this person may use, in the order of their work."""
    moderates = principal.is_admin or principal.has_role(Role.moderator)
    tools: list[Tool] = []
    if moderates:
        tools += [
            Tool("consultations", _("Consultations"),
                 _("Créer, modifier, publier, dupliquer et archiver les consultations ; dates des phases et règles."),
                 "/gestion/consultations"),
            Tool("moderation", _("Modération"),
                 _("Contenus signalés et propositions en attente d’approbation ; masquer, rétablir, approuver."),
                 "/gestion/moderation", meta=_moderation_meta(session, principal)),
            Tool("actions", _("Actions"),
                 _("Les actions issues des propositions retenues : modifier, ajouter un point d’avancement."),
                 "/actions"),
        ]
    if principal.is_admin or principal.has_role(Role.mediator):
        tools.append(Tool("counter", _("Guichet"),
                          _("Inscrire un habitant présent, vérifier sa résidence, enregistrer sa participation."),
                          "/guichet"))
    if principal.is_admin or principal.has_role(Role.evaluator) or principal.has_role(Role.moderator):
        tools += [
            Tool("evaluation", _("Évaluation"),
                 _("Tableaux de bord de la participation et représentativité des participants."), "/evaluation"),
            Tool("exports", _("Exports"),
                 _("Les données d’une consultation en CSV, XLSX, ODS ou JSON."), "/gestion/exports"),
        ]
    if can_read_audit_log(session, principal):
        tools.append(Tool("journal", _("Journal des actes"),
                          _("Qui a fait quoi, quand, sur quoi : chaque acte des modérateurs, médiateurs et "
                            "administrateurs, avec l’état avant et après."), "/gestion/journal"))
    return tools


ROLE_NAMES = {
    Role.admin: N_("Administration"),
    Role.moderator: N_("Modération"),
    Role.mediator: N_("Médiation"),
    Role.evaluator: N_("Évaluation"),
}


def roles_in_words(session: Session, principal: Principal) -> list[str]:
    """Each back-office grant of the person, with its reach ("Modération : axe 3, Titre")."""
    words: list[str] = []
    for grant in principal.grants:
        if grant.role not in ROLE_NAMES:
            continue
        role = _(ROLE_NAMES[Role(grant.role)])
        if grant.axis_id is not None:
            axis = session.get(Axis, grant.axis_id)
            reach = _("axe %(number)s, %(title)s", number=axis.number, title=axis.title) if axis else "?"
        elif grant.consultation_id is not None:
            consultation = session.get(Consultation, grant.consultation_id)
            reach = _("consultation « %(title)s »", title=consultation.title) if consultation else "?"
        elif grant.commune_insee is not None:
            commune = session.get(Commune, grant.commune_insee)
            reach = _("commune de %(name)s", name=commune.name if commune else grant.commune_insee)
        else:
            reach = _("toute la plateforme")
        words.append(_("%(role)s : %(reach)s", role=role, reach=reach))
    return words


# --- The audit log: filters


CHANNELS = ("online", "assisted", "system")
CHANNEL_NAMES = {"online": N_("En ligne"), "assisted": N_("Accompagné (guichet)"),
                 "system": N_("Système (tâche programmée)")}

# What the entries are about. Targets that belong to a consultation are followed to it (see
# _target_ids_within) to decide which moderators read their entries.
TARGET_TYPES = {
    "consultation": N_("Consultation"),
    "proposal": N_("Proposition"),
    "comment": N_("Commentaire"),
    "action": N_("Action"),
    "evaluation": N_("Évaluation d’une action"),
    "user": N_("Personne"),
    "platform": N_("Plateforme"),
}

# Readable names of the acts; an act not listed here shows its code.
ACTION_NAMES = {
    "account.claimed": N_("Compte repris par son habitant"),
    "account.erased": N_("Compte effacé"),
    "action.created": N_("Action créée"),
    "action.edited": N_("Action modifiée"),
    "action.evaluated": N_("Action évaluée (au guichet)"),
    "action.progress": N_("Point d’avancement ajouté"),
    "ballot.cast": N_("Bulletin enregistré (au guichet)"),
    "claim_code.issued": N_("Code de reprise de compte remis"),
    "consultation.archived": N_("Consultation archivée"),
    "consultation.created": N_("Consultation créée"),
    "consultation.duplicated": N_("Consultation dupliquée"),
    "consultation.phase_closed": N_("Phase close en avance"),
    "consultation.published": N_("Consultation publiée"),
    "consultation.updated": N_("Consultation modifiée"),
    "content.approved": N_("Contenu approuvé"),
    "content.hidden": N_("Contenu masqué"),
    "content.restored": N_("Contenu rétabli"),
    "evaluation.hidden": N_("Évaluation d’une action masquée"),
    "evaluation.restored": N_("Évaluation d’une action rétablie"),
    "proposal.answered": N_("Réponse officielle"),
    "proposal.merge_received": N_("Proposition fusionnée : reçoit"),
    "proposal.merged": N_("Proposition fusionnée dans une autre"),
    "proposal.submitted": N_("Proposition déposée (au guichet)"),
    "residence.verified": N_("Résidence vérifiée"),
    "retention.purged": N_("Données périmées effacées (durées de conservation)"),
    "resident.registered": N_("Habitant inscrit au guichet"),
    "role.granted": N_("Rôle attribué"),
    "role.revoked": N_("Rôle retiré"),
    "support.added": N_("Soutien enregistré (au guichet)"),
    "user.blocked": N_("Participation suspendue"),
    "user.unblocked": N_("Participation rétablie"),
}


def action_name(code: str) -> str:
    return _(ACTION_NAMES[code]) if code in ACTION_NAMES else code


def target_type_name(code: str) -> str:
    return _(TARGET_TYPES[code]) if code in TARGET_TYPES else code


def channel_name(code: str) -> str:
    return _(CHANNEL_NAMES[code]) if code in CHANNEL_NAMES else code


@dataclass(frozen=True)
class AuditFilters:
    """What the reader asked for; `until` is exclusive. Texts as typed, for the form."""

    actor: str = ""
    action: str = ""
    target_type: str = ""
    target_id: str = ""
    channel: str = ""
    since: datetime | None = None
    until: datetime | None = None
    consultation_id: int | None = None  # the consultation and everything in it (proposals, comments…)
    raw: dict[str, str] = field(default_factory=dict)

    def query(self) -> dict[str, str]:
        """The filters as typed, without the empty ones (for links: export, next page)."""
        return {name: value for name, value in self.raw.items() if value}


def parse_moment(text: str, *, end: bool) -> datetime:
    """A day (YYYY-MM-DD, in the platform's time zone: the whole day) or a moment in ISO 8601 (UTC
    when it names no zone). With end=True, the exclusive end: the next midnight for a day, the
    next microsecond for a moment (so that `until` includes it)."""
    text = text.strip()
    if len(text) == 10:
        day = date.fromisoformat(text)
        if end:
            day += timedelta(days=1)
        return datetime.combine(day, time(), tzinfo=PARIS).astimezone(UTC)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC) + (timedelta(microseconds=1) if end else timedelta())


def parse_filters(*, actor: str = "", action: str = "", target_type: str = "", target_id: str = "",
                  channel: str = "", since: str = "", until: str = "", consultation: str = "") -> AuditFilters:
    """Filters from the query string (page, export or API); refuses what it cannot understand."""
    raw = {"actor": actor, "action": action, "target_type": target_type, "target_id": target_id,
           "channel": channel, "since": since, "until": until, "consultation": consultation}
    raw = {name: value.strip() for name, value in raw.items()}
    errors: dict[str, list[str]] = {}
    if raw["consultation"] and not (raw["consultation"].isdigit() and len(raw["consultation"]) <= 12):
        errors["consultation"] = [_("Le numéro d’une consultation.")]
    if len(raw["actor"]) > 200:
        errors["actor"] = [_("Au plus 200 caractères.")]
    if len(raw["action"]) > 80 or any(not (c.isascii() and (c.isalnum() or c in "._")) for c in raw["action"]):
        errors["action"] = [_("Un code d’acte comme « proposal.hidden », ou sa famille (« proposal »).")]
    if raw["target_type"] and (len(raw["target_type"]) > 40 or not raw["target_type"].replace("_", "").isalnum()):
        errors["target_type"] = [_("Ce type de cible n’existe pas.")]
    if len(raw["target_id"]) > 40:
        errors["target_id"] = [_("Au plus 40 caractères.")]
    if raw["channel"] and raw["channel"] not in CHANNELS:
        errors["channel"] = [_("Ce canal n’existe pas.")]
    moments: dict[str, datetime | None] = {"since": None, "until": None}
    for name in ("since", "until"):
        if raw[name]:
            try:
                moments[name] = parse_moment(raw[name], end=name == "until")
            except ValueError:
                errors[name] = [_("Une date au format AAAA-MM-JJ (ou un instant ISO 8601).")]
    since_at, until_at = moments["since"], moments["until"]
    if since_at is not None and until_at is not None and until_at <= since_at:
        errors["until"] = [_("La fin doit venir après le début.")]
    if errors:
        raise InvalidAuditFilter(errors)
    return AuditFilters(actor=raw["actor"], action=raw["action"], target_type=raw["target_type"],
                        target_id=raw["target_id"], channel=raw["channel"], since=since_at, until=until_at,
                        consultation_id=int(raw["consultation"]) if raw["consultation"] else None, raw=raw)


# --- The audit log: what each reader reaches


@dataclass(frozen=True)
class AuditReach:
    """Everything (admins), or the entries about these axes and consultations plus one's own acts."""

    everything: bool
    axis_ids: frozenset[int] = frozenset()
    consultation_ids: frozenset[int] = frozenset()
    actor_id: int | None = None


def audit_reach(session: Session, principal: Principal | None) -> AuditReach:
    """What this person may read of the log, as the policy decides; refused when nothing."""
    if principal is None:
        raise SignInRequired()
    decision = can(principal, Action.view_audit_log)
    if decision:
        return AuditReach(everything=True)
    axis_ids = frozenset(
        axis_id for axis_id in session.exec(select(Axis.id))
        if axis_id is not None and can(principal, Action.view_audit_log, Scope(axis_id=axis_id))
    )
    consultation_ids = frozenset(
        grant.consultation_id for grant in principal.grants
        if grant.consultation_id is not None
        and can(principal, Action.view_audit_log, Scope(consultation_id=grant.consultation_id))
    )
    if not axis_ids and not consultation_ids:
        raise Forbidden(decision.reason)
    return AuditReach(everything=False, axis_ids=axis_ids, consultation_ids=consultation_ids, actor_id=principal.id)


def consultations_within(session: Session, reach: AuditReach) -> list[Consultation]:
    """The consultations whose entries the reader reaches (for the filter's choices), by title."""
    query = select(Consultation).order_by(col(Consultation.title), col(Consultation.id))
    if not reach.everything:
        query = query.where(or_(col(Consultation.axis_id).in_(reach.axis_ids),
                                col(Consultation.id).in_(reach.consultation_ids)))
    return list(session.exec(query))


def _target_ids_within(reach: AuditReach) -> dict[str, Select[Any]]:
    """For each kind of target that belongs to a consultation: the ids (as the log writes them,
    text) of those within the reach's axes and consultations."""
    within = or_(col(Consultation.axis_id).in_(reach.axis_ids), col(Consultation.id).in_(reach.consultation_ids))
    to_consultation = col(Consultation.id)

    def ids(column: Any) -> Any:
        return sql_select(cast(column, String))

    return {
        "consultation": ids(Consultation.id).where(within),
        "proposal": ids(Proposal.id).join(Consultation, to_consultation == Proposal.consultation_id).where(within),
        "comment": ids(Comment.id).join(Proposal, col(Proposal.id) == Comment.proposal_id)
        .join(Consultation, to_consultation == Proposal.consultation_id).where(within),
        "action": ids(PublicAction.id).join(Consultation, to_consultation == PublicAction.consultation_id)
        .where(within),
        "evaluation": ids(ActionEvaluation.id)
        .join(PublicAction, col(PublicAction.id) == ActionEvaluation.action_id)
        .join(Consultation, to_consultation == PublicAction.consultation_id).where(within),
    }


def _reach_condition(reach: AuditReach) -> ColumnElement[bool]:
    if reach.everything:
        return true()
    about_scope = [
        and_(col(AuditEntry.target_type) == target_type, col(AuditEntry.target_id).in_(ids))
        for target_type, ids in _target_ids_within(reach).items()
    ]
    own = col(AuditEntry.actor_id) == reach.actor_id if reach.actor_id is not None else false()
    return or_(own, *about_scope)


def _filter_conditions(filters: AuditFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.actor:
        if filters.actor.isdigit():
            conditions.append(col(AuditEntry.actor_id) == int(filters.actor))
        else:
            conditions.append(col(AuditEntry.actor_label).icontains(filters.actor, autoescape=True))
    if filters.action:
        # A code, or a family of codes: "proposal" is every "proposal.…" (not "proposals_x.…").
        family = filters.action.rstrip(".")
        conditions.append(or_(col(AuditEntry.action) == family,
                              col(AuditEntry.action).startswith(family + ".", autoescape=True)))
    if filters.target_type:
        conditions.append(col(AuditEntry.target_type) == filters.target_type)
    if filters.target_id:
        conditions.append(col(AuditEntry.target_id) == filters.target_id)
    if filters.channel:
        conditions.append(col(AuditEntry.channel) == filters.channel)
    if filters.since is not None:
        conditions.append(col(AuditEntry.at) >= filters.since)
    if filters.until is not None:
        conditions.append(col(AuditEntry.at) < filters.until)
    if filters.consultation_id is not None:
        conditions.append(_reach_condition(AuditReach(everything=False,
                                                      consultation_ids=frozenset({filters.consultation_id}))))
    return conditions


NEWEST_FIRST = (col(AuditEntry.at).desc(), col(AuditEntry.id).desc())


def audit_where(reach: AuditReach, filters: AuditFilters) -> list[ColumnElement[bool]]:
    """Every condition an entry must meet to be shown: the reader's reach and their filters."""
    return [_reach_condition(reach), *_filter_conditions(filters)]


# --- The audit log: a page at a time (keyset: "older than the last one shown")


def encode_cursor(entry: AuditEntry) -> str:
    assert entry.id is not None
    raw = f"{entry.at.astimezone(UTC).isoformat()}|{entry.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, _sep, entry_id = raw.partition("|")
        at = datetime.fromisoformat(moment)
        if at.tzinfo is None:
            raise ValueError(moment)
        return at, int(entry_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise InvalidAuditFilter({"cursor": [_("Ce repère de page n’est pas valable.")]}) from error


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    next_cursor: str | None
    reach: AuditReach


def audit_page(session: Session, principal: Principal | None, filters: AuditFilters, *, cursor: str = "",
               limit: int = PAGE_SIZE) -> AuditPage:
    """The entries the reader may see that meet the filters, newest first, `limit` of them after `cursor`."""
    reach = audit_reach(session, principal)
    query = select(AuditEntry).where(*audit_where(reach, filters))
    if cursor:
        at, entry_id = decode_cursor(cursor)
        query = query.where(or_(col(AuditEntry.at) < at, and_(col(AuditEntry.at) == at, col(AuditEntry.id) < entry_id)))
    rows = list(session.exec(query.order_by(*NEWEST_FIRST).limit(limit + 1)))
    entries = rows[:limit]
    next_cursor = encode_cursor(entries[-1]) if len(rows) > limit else None
    return AuditPage(entries=entries, next_cursor=next_cursor, reach=reach)


# --- The audit log: CSV export, streamed

EXPORT_HEADER = ("id", "at", "actor_id", "actor", "action", "target_type", "target_id", "channel", "before",
                 "after")
# before/after are read as the JSON text stored, never parsed and written again (the export's
# costliest step otherwise).
_EXPORT_COLUMNS = (AuditEntry.id, AuditEntry.at, AuditEntry.actor_id, AuditEntry.actor_label, AuditEntry.action,
                   AuditEntry.target_type, AuditEntry.target_id, AuditEntry.channel,
                   cast(col(AuditEntry.before), String).label("before"),
                   cast(col(AuditEntry.after), String).label("after"))


def _json_text(stored: str | None) -> str:
    """The stored JSON as is, but with its letters as letters (it is written with \\u escapes)."""
    if stored is None or stored == "null":
        return ""
    if "\\u" in stored:
        return json.dumps(json.loads(stored), ensure_ascii=False)
    return stored


def export_statement(session: Session, principal: Principal | None, filters: AuditFilters) -> Select[Any]:
    """The query of the export, permission checked now (before any byte is sent)."""
    reach = audit_reach(session, principal)
    return (select(*_EXPORT_COLUMNS).where(*audit_where(reach, filters)).order_by(*NEWEST_FIRST)
            .execution_options(yield_per=EXPORT_BATCH))


def export_csv(open_session: Callable[[], AbstractContextManager[Session]], statement: Select[Any]) -> Iterator[str]:
    """The CSV of `statement`'s entries, read `EXPORT_BATCH` rows at a time on a session of its own
    (the request's is closed by the time a stream is sent): memory stays constant."""
    with open_session() as session:
        rows = (
            (row.id, row.at, row.actor_id, row.actor_label, row.action, row.target_type, row.target_id, row.channel,
             _json_text(row.before), _json_text(row.after))
            for row in session.execute(statement)
        )
        yield from csv_rows(EXPORT_HEADER, rows)


# --- The audit log: a readable before/after


@dataclass(frozen=True)
class Change:
    name: str
    before: str | None  # None: the field was not there
    after: str | None


MAX_SHOWN = 400  # characters of one value on the page (the export and the API have it all)


def _shown(value: Any) -> str:
    if value is None:
        text = "—"
    elif isinstance(value, bool):
        text = _("oui") if value else _("non")
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "…"


def changes(entry: AuditEntry) -> list[Change]:
    """What the act changed, field by field: only the fields that differ when both states are
    known; every field of the one state given otherwise."""
    before, after = entry.before or {}, entry.after or {}
    names = list(before) + [name for name in after if name not in before]
    found = []
    for name in names:
        if name in before and name in after and before[name] == after[name]:
            continue
        found.append(Change(name, _shown(before[name]) if name in before else None,
                            _shown(after[name]) if name in after else None))
    return found


def target_href(entry: AuditEntry) -> str | None:
    """Where the entry's target can be seen, when it has a page."""
    if not entry.target_id.isdigit():
        return None
    return {
        "consultation": f"/gestion/consultations/{entry.target_id}",
        "proposal": f"/propositions/{entry.target_id}",
        "action": f"/actions/{entry.target_id}",
    }.get(entry.target_type)
