"""Participation figures for evaluators: who took part, when, where from, how; and how well each
commune and EPCI is reached. Everything is counted by the database (one GROUP BY per table, no
query per row) on SQLite and PostgreSQL alike, then protected by `privacy` before anyone sees it.

Definitions (stated on the pages too):

- A **contribution** is a proposal (unless moderation hid it), a comment (unless hidden), a
  support or a ballot (one per person and consultation, whatever the number of proposals it
  grades or selects). Assisted contributions count like the others; their channel says so.
- A **participant** is a distinct person who made at least one contribution within the filters.
  Votes of erased accounts keep counting as contributions, but nothing says any more whose they
  were: each such vote counts as one participant of its own, as on the results pages, and its
  commune and age are unknown.
- The **commune**, **EPCI** and **age bracket** are the participant's *current* ones (residence
  declared or verified; age reached during the current year, from the birth year).
- **Days and weeks** are those of Paris (weeks start on Monday).
- **Hidden results stay hidden**: while a consultation hides its results until the end of the
  vote, its supports and ballots are not counted anywhere (the results page does not even give
  the number of voters before the end). Proposals and comments, public anyway, still count.
  No figure here is ever given per proposal."""

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Integer, and_, case, cast, func, literal, not_, null, or_, union_all
from sqlalchemy import select as sa_select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from app.accounts.models import Role, User
from app.accounts.policy import Action, Principal, Scope, can
from app.consultations.models import Consultation, ConsultationStatus
from app.core.errors import Forbidden, NotFound
from app.core.i18n import N_, gettext
from app.evaluation import privacy
from app.evaluation.privacy import TOTAL, Mark, Protection
from app.proposals.models import Comment, CommentState, Proposal, ProposalState
from app.territory.models import Axis, Commune, Epci
from app.voting.models import Ballot, SupportVote

PARIS = ZoneInfo("Europe/Paris")
BREAKDOWNS = ("axis", "consultation", "epci", "commune", "age_bracket", "channel", "day", "week")
CHANNELS = (("online", N_("En ligne")), ("assisted", N_("Accompagnée (médiateur)")))
# key, label, youngest age, oldest age
AGE_BRACKETS: tuple[tuple[str, str, int | None, int | None], ...] = (
    ("under_18", N_("Moins de 18 ans"), None, 17),
    ("18_24", N_("18-24 ans"), 18, 24),
    ("25_34", N_("25-34 ans"), 25, 34),
    ("35_49", N_("35-49 ans"), 35, 49),
    ("50_64", N_("50-64 ans"), 50, 64),
    ("65_plus", N_("65 ans et plus"), 65, None),
    ("unknown", N_("Âge inconnu"), None, None),
)
UNKNOWN = ""  # the key of the unknown commune or EPCI
MAX_DAYS = 3 * 366  # a daily series longer than this is refused (ask for weeks)
LEAST_REACHED = 15


class InvalidFilters(Forbidden):
    status_code = 422
    code = "invalid-filters"
    message = N_("Ces filtres ne sont pas valables.")


class PeriodTooLong(InvalidFilters):
    code = "period-too-long"
    message = N_("La période est trop longue pour un tableau par jour : choisissez les semaines.")


class FiguresForbidden(Forbidden):
    code = "figures-forbidden"
    message = N_("Seuls les évaluateurs, les modérateurs de cet axe ou de cette consultation et les administrateurs "
                 "peuvent consulter ces chiffres.")


class UnknownFilter(NotFound):
    message = N_("Cet axe, cette consultation ou cette intercommunalité n’existe pas.")


@dataclass(frozen=True)
class Filters:
    axis_id: int | None = None
    consultation_id: int | None = None
    since: date | None = None  # first day included (Paris)
    until: date | None = None  # last day included (Paris)
    epci_siren: str | None = None

    def query(self, **extra: object) -> dict[str, str]:
        """The filters as query parameters (for links and the CSV download)."""
        values = {"axe": self.axis_id, "consultation": self.consultation_id, "depuis": self.since,
                  "jusqu_au": self.until, "epci": self.epci_siren, **extra}
        return {k: str(v) for k, v in values.items() if v not in (None, "")}


# --- Who may see what


def visible_scopes(session: Session, principal: Principal | None) -> tuple[bool, list[Axis], list[Consultation]]:
    """(sees everything, the axes, the consultations) this person may read figures of."""
    if principal is None:
        return False, [], []
    if can(principal, Action.view_participation_figures, Scope()):
        return True, list(session.exec(select(Axis).order_by(col(Axis.number)))), _consultations(session, None)
    grants = [g for g in principal.grants if g.role in (Role.evaluator, Role.moderator)]
    axis_ids = {g.axis_id for g in grants if g.axis_id is not None}
    consultation_ids = {g.consultation_id for g in grants if g.consultation_id is not None}
    axes = list(session.exec(select(Axis).where(col(Axis.id).in_(axis_ids)).order_by(col(Axis.number))))
    consultations = list(session.exec(
        select(Consultation).where(
            col(Consultation.status) != ConsultationStatus.draft,
            or_(col(Consultation.axis_id).in_(axis_ids), col(Consultation.id).in_(consultation_ids)),
        ).order_by(col(Consultation.axis_id), col(Consultation.id))
    ))
    return False, axes, consultations


def may_see_any(session: Session, principal: Principal | None) -> bool:
    sees_all, axes, consultations = visible_scopes(session, principal)
    return sees_all or bool(axes) or bool(consultations)


def check_filters(session: Session, principal: Principal | None, filters: Filters) -> Filters:
    """The filters, checked: they name things that exist, and this person may see their figures."""
    if filters.since and filters.until and filters.since > filters.until:
        raise InvalidFilters(gettext("La date de début doit précéder la date de fin."))
    if filters.epci_siren is not None and session.get(Epci, filters.epci_siren) is None:
        raise UnknownFilter()
    scope = Scope()
    if filters.consultation_id is not None:
        consultation = session.get(Consultation, filters.consultation_id)
        if consultation is None or consultation.status == ConsultationStatus.draft:
            raise UnknownFilter()
        if filters.axis_id is not None and filters.axis_id != consultation.axis_id:
            raise InvalidFilters(gettext("Cette consultation n’appartient pas à cet axe."))
        scope = Scope(axis_id=consultation.axis_id, consultation_id=consultation.id)
    elif filters.axis_id is not None:
        if session.get(Axis, filters.axis_id) is None:
            raise UnknownFilter()
        scope = Scope(axis_id=filters.axis_id)
    decision = can(principal, Action.view_participation_figures, scope)
    if not decision:
        raise FiguresForbidden()
    return filters


def default_filters(session: Session, principal: Principal | None, filters: Filters) -> Filters:
    """For someone who may see only some axes or consultations and chose none: the first of them."""
    if filters.axis_id is not None or filters.consultation_id is not None:
        return filters
    sees_all, axes, consultations = visible_scopes(session, principal)
    if sees_all:
        return filters
    if axes:
        return Filters(axes[0].id, None, filters.since, filters.until, filters.epci_siren)
    if consultations:
        return Filters(None, consultations[0].id, filters.since, filters.until, filters.epci_siren)
    return filters


def _consultations(session: Session, filters: Filters | None) -> list[Consultation]:
    query = select(Consultation).where(col(Consultation.status) != ConsultationStatus.draft)
    if filters is not None and filters.consultation_id is not None:
        query = query.where(Consultation.id == filters.consultation_id)
    elif filters is not None and filters.axis_id is not None:
        query = query.where(Consultation.axis_id == filters.axis_id)
    return list(session.exec(query.order_by(col(Consultation.axis_id), col(Consultation.id))))


# --- Dialects: local days and weeks


def _local_day(dialect: str, moment: Any) -> ColumnElement[Any]:
    """The Paris day of a UTC moment, as a date (PostgreSQL) or 'YYYY-MM-DD' (SQLite).

    SQLite has no time zones: the EU rule is written out (summer time from the last Sunday of
    March to the last Sunday of October, both at 01:00 UTC)."""
    if dialect == "postgresql":
        return cast(func.timezone("Europe/Paris", moment), Date)
    year = func.strftime("%Y", moment)
    summer_starts = func.datetime(func.date(year.concat("-04-01"), "weekday 0", "-7 days"), "+1 hours")
    summer_ends = func.datetime(func.date(year.concat("-11-01"), "weekday 0", "-7 days"), "+1 hours")
    return case(
        (and_(moment >= summer_starts, moment < summer_ends), func.date(moment, "+2 hours")),
        else_=func.date(moment, "+1 hours"),
    )


def _local_week(dialect: str, day: Any) -> ColumnElement[Any]:
    """The Monday of the week of a local day (as returned by `_local_day`)."""
    if dialect == "postgresql":
        return cast(func.date_trunc("week", day), Date)
    return func.date(day, "-6 days", "weekday 1")


def _utc_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=PARIS).astimezone(UTC)


def _as_day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


# --- The contributions, one row each


def _contributions(now: datetime) -> Any:
    """Every contribution as (person, anonymous key, kind, consultation, channel, moment)."""
    p, c, s, b = Proposal.__table__, Comment.__table__, SupportVote.__table__, Ballot.__table__  # type: ignore[attr-defined]
    proposals = sa_select(
        p.c.author_id.label("person_id"), cast(null(), Integer).label("anonymous"), literal("proposal").label("kind"),
        p.c.consultation_id, p.c.channel, p.c.created_at.label("at"),
    ).where(p.c.state != ProposalState.hidden)
    comments = sa_select(
        c.c.author_id.label("person_id"), cast(null(), Integer), literal("comment"), p.c.consultation_id,
        literal("online"), c.c.created_at,
    ).select_from(c.join(p, p.c.id == c.c.proposal_id)).where(c.c.state != CommentState.hidden)
    # Erased voters: one anonymous participant per vote (negative keys never meet a person's id).
    supports = sa_select(
        s.c.voter_id, -(s.c.id * 2), literal("support"), s.c.consultation_id, s.c.channel, s.c.cast_at,
    )
    ballots = sa_select(
        b.c.voter_id, -(b.c.id * 2 + 1), literal("ballot"), b.c.consultation_id, b.c.channel, b.c.cast_at,
    )
    return union_all(proposals, comments, supports, ballots).subquery("contribution")


def _enriched(session: Session, filters: Filters, now: datetime) -> Any:
    """The contributions within the filters, each with every key a table may group by."""
    dialect = session.get_bind().dialect.name
    contribution = _contributions(now)
    consultation = Consultation.__table__  # type: ignore[attr-defined]
    user = User.__table__  # type: ignore[attr-defined]
    commune = Commune.__table__  # type: ignore[attr-defined]
    year = now.astimezone(PARIS).year
    age = literal(year) - user.c.birth_year
    brackets = [(user.c.birth_year.is_(None), "unknown")]
    for key, _label, youngest, oldest in AGE_BRACKETS:
        if key == "unknown":
            continue
        condition = []
        if youngest is not None:
            condition.append(age >= youngest)
        if oldest is not None:
            condition.append(age <= oldest)
        brackets.append((and_(*condition), key))
    day = _local_day(dialect, contribution.c.at)
    hidden_votes = and_(
        contribution.c.kind.in_(("support", "ballot")),
        consultation.c.results_hidden_until_end == True,  # noqa: E712
        consultation.c.results_starts_at > now,
    )
    query = (
        sa_select(
            func.coalesce(contribution.c.person_id, contribution.c.anonymous).label("participant"),
            consultation.c.axis_id.label("axis"),
            contribution.c.consultation_id.label("consultation"),
            func.coalesce(commune.c.epci_siren, UNKNOWN).label("epci"),
            func.coalesce(user.c.commune_insee, UNKNOWN).label("commune"),
            case(*brackets, else_="unknown").label("age_bracket"),
            contribution.c.channel.label("channel"),
            day.label("day"),
        )
        .select_from(
            contribution.join(consultation, consultation.c.id == contribution.c.consultation_id)
            .outerjoin(user, user.c.id == contribution.c.person_id)
            .outerjoin(commune, commune.c.insee_code == user.c.commune_insee)
        )
        .where(not_(hidden_votes), consultation.c.status != ConsultationStatus.draft)
    )
    if filters.axis_id is not None:
        query = query.where(consultation.c.axis_id == filters.axis_id)
    if filters.consultation_id is not None:
        query = query.where(contribution.c.consultation_id == filters.consultation_id)
    if filters.epci_siren is not None:
        query = query.where(commune.c.epci_siren == filters.epci_siren)
    if filters.since is not None:
        query = query.where(contribution.c.at >= _utc_start(filters.since))
    if filters.until is not None:
        query = query.where(contribution.c.at < _utc_start(filters.until + timedelta(days=1)))
    enriched = query.subquery("enriched")
    week = _local_week(dialect, enriched.c.day)
    return sa_select(*enriched.c, week.label("week")).subquery("keyed")


def _counts(session: Session, keyed: Any, by: str) -> dict[str, tuple[int, int]]:
    column = keyed.c[by]
    rows = session.execute(
        sa_select(column, func.count(func.distinct(keyed.c.participant)), func.count()).group_by(column)
    ).all()
    return {_key(by, key): (participants, contributions) for key, participants, contributions in rows}


def _key(by: str, value: Any) -> str:
    if by in ("day", "week"):
        return _as_day(value).isoformat()
    return "" if value is None else str(value)


def _totals(session: Session, keyed: Any) -> tuple[int, int]:
    participants, contributions = session.execute(
        sa_select(func.count(func.distinct(keyed.c.participant)), func.count())
    ).one()
    return participants, contributions


# --- Tables


@dataclass
class Row:
    key: str
    label: str
    participants: int
    contributions: int
    shown_participants: int | str = 0
    shown_contributions: int | str = 0
    parent: str | None = None  # communes: their EPCI; consultations: their axis; days: their week
    participants_mark: Mark = Mark.shown
    contributions_mark: Mark = Mark.shown

    @property
    def suppressed(self) -> bool:
        return self.participants_mark is not Mark.shown or self.contributions_mark is not Mark.shown


@dataclass
class Table:
    by: str
    rows: list[Row]
    total_participants: int | str
    total_contributions: int | str
    suppressed: bool
    threshold: int
    exact_participants: bool  # do the rows' participants add up to the total?
    raw_total: tuple[int, int] = (0, 0)
    totals_hidden: bool = False

    def api_items(self) -> list[dict[str, Any]]:
        return [{"key": r.key, "label": r.label, "participants": r.shown_participants,
                 "contributions": r.shown_contributions} for r in self.rows]


@dataclass
class Tables:
    """The tables of one page, protected together (so a table and its parent never disagree)."""

    tables: dict[str, Table] = field(default_factory=dict)
    total_participants: int | str = 0
    total_contributions: int | str = 0
    suppressed: bool = False
    threshold: int = 5


def _labels(session: Session, by: str, filters: Filters, keys: set[str], now: datetime,
            first: date | None, last: date | None) -> list[tuple[str, str, str | None]]:
    """Every row the table shows, counted or not: (key, label, parent key)."""
    if by == "axis":
        axes = session.exec(select(Axis).order_by(col(Axis.number))).all()
        if filters.axis_id is not None or filters.consultation_id is not None:
            wanted = {c.axis_id for c in _consultations(session, filters)} | (
                {filters.axis_id} if filters.axis_id else set())
            axes = [a for a in axes if a.id in wanted]
        return [(str(a.id), gettext("Axe %(number)s — %(title)s", number=a.number, title=a.title), None) for a in axes]
    if by == "consultation":
        return [(str(c.id), c.title, str(c.axis_id)) for c in _consultations(session, filters)]
    if by in ("epci", "commune"):
        epcis = session.exec(select(Epci).order_by(col(Epci.is_signatory).desc(), col(Epci.name))).all()
        if by == "epci":
            rows = [(e.siren, e.name, None) for e in epcis if filters.epci_siren in (None, e.siren)]
            if filters.epci_siren is None:
                rows.append((UNKNOWN, gettext("Commune inconnue"), None))
            return rows
        query = select(Commune).order_by(col(Commune.search_name), col(Commune.insee_code))
        if filters.epci_siren is not None:
            query = query.where(Commune.epci_siren == filters.epci_siren)
        rows = [(c.insee_code, c.name, c.epci_siren) for c in session.exec(query)]
        if filters.epci_siren is None:
            rows.append((UNKNOWN, gettext("Commune inconnue (compte effacé ou non renseignée)"), UNKNOWN))
        return rows
    if by == "age_bracket":
        return [(key, gettext(label), None) for key, label, _y, _o in AGE_BRACKETS]
    if by == "channel":
        return [(key, gettext(label), None) for key, label in CHANNELS]
    if first is None or last is None:
        return []
    if by == "day":
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        return [(d.isoformat(), d.isoformat(), _monday(d).isoformat()) for d in days]
    monday = _monday(first)
    weeks = []
    while monday <= last:
        weeks.append((monday.isoformat(), gettext("Semaine du %(day)s", day=monday.isoformat()), None))
        monday += timedelta(days=7)
    return weeks


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


PARENT_OF = {"consultation": "axis", "commune": "epci", "day": "week"}
EXACT_PARTICIPANTS = {"epci", "commune", "age_bracket"}  # partitions of the people


def tables(session: Session, filters: Filters, bys: Sequence[str], *, now: datetime, threshold: int) -> Tables:
    """The protected tables `bys`. Every table is computed and protected whatever is asked (a table
    with its parent, e.g. communes within EPCIs), so that a figure is suppressed alike on every
    page, file and API answer, and the totals too when any table needs them hidden. One GROUP BY
    query per table, one for the totals, a few for the rows' names."""
    for by in bys:
        if by not in BREAKDOWNS:
            raise InvalidFilters(gettext("Regroupement inconnu : %(by)s.", by=by))
    keyed = _enriched(session, filters, now)
    total = _totals(session, keyed)
    wanted = list(dict.fromkeys(bys))
    counts = {by: _counts(session, keyed, by) for by in BREAKDOWNS}
    first, last = _period(filters, counts)
    too_long = first is not None and last is not None and (last - first).days > MAX_DAYS
    if "day" in wanted and too_long:
        raise PeriodTooLong()
    computed = [by for by in BREAKDOWNS if not (by == "day" and too_long)]
    raw: dict[str, list[Row]] = {}
    for by in computed:
        found = counts[by]
        labels = _labels(session, by, filters, set(found), now, first, last)
        known = {key for key, _label, _parent in labels}
        rows = [Row(key, label, *found.get(key, (0, 0)), parent=parent) for key, label, parent in labels]
        # A count under a key with no row (should not happen) is shown rather than lost.
        rows += [Row(key, key, *value) for key, value in found.items() if key not in known]
        raw[by] = rows
    hidden_total = False
    done: set[str] = set()
    for by in computed:
        if by in done:
            continue
        parent_by = PARENT_OF.get(by)
        child_by = next((child for child, parent in PARENT_OF.items() if parent == by and child in raw), None)
        if parent_by in raw:
            pair: tuple[str, ...] = (parent_by, by)
        elif child_by is not None:
            pair = (by, child_by)
        else:
            pair = (by,)
        # Without a period chosen, the series starts (ends) on a day when someone contributed.
        ends = [d for d, chosen in ((first, filters.since), (last, filters.until)) if d is not None and chosen is None]
        nonzero: set[Hashable] = set()
        if "day" in pair:
            nonzero = {("day", d.isoformat()) for d in ends} | {("week", _monday(d).isoformat()) for d in ends}
        elif "week" in pair:
            nonzero = {("week", _monday(d).isoformat()) for d in ends}
        hidden_total |= _protect(raw, pair, total, threshold, nonzero=nonzero)
        done.update(pair)
    shown_total = (privacy.SECRET_LABEL, privacy.SECRET_LABEL) if hidden_total else (
        _shown_total(total[0], threshold), _shown_total(total[1], threshold))
    result = Tables(threshold=threshold)
    for by in wanted:
        rows = raw[by]
        result.tables[by] = Table(
            by=by, rows=rows, total_participants=shown_total[0], total_contributions=shown_total[1],
            suppressed=any(r.suppressed for r in rows) or hidden_total or total[0] < threshold,
            threshold=threshold, exact_participants=by in EXACT_PARTICIPANTS, raw_total=total,
            totals_hidden=hidden_total,
        )
    result.total_participants, result.total_contributions = shown_total
    result.suppressed = any(t.suppressed for t in result.tables.values()) or (
        not wanted and (total[0] < threshold or total[1] < threshold))
    return result


def _shown_total(value: int, threshold: int) -> int | str:
    return privacy.primary_label(threshold) if value < threshold else value


def _period(filters: Filters, counts: dict[str, dict[str, tuple[int, int]]]) -> tuple[date | None, date | None]:
    """The days a time series covers: the filters' period, else from the first to the last day counted."""
    days = [date.fromisoformat(k) for k in counts.get("day", {})]
    first = filters.since or (min(days) if days else None)
    last = filters.until or (max(days) if days else None)
    return first, last


def _protect(raw: dict[str, list[Row]], pair: tuple[str, ...], total: tuple[int, int], threshold: int, *,
             nonzero: set[Hashable]) -> bool:
    """Mark the rows of one table (or a parent table and its child) in place; True when the
    totals themselves had to be suppressed."""
    cells: dict[Hashable, tuple[int, int]] = {}
    parents: dict[Hashable, Hashable] = {}
    rows_of: dict[Hashable, Row] = {}
    parent_by = pair[0] if len(pair) == 2 else None
    for by in pair:
        for row in raw[by]:
            key = (by, row.key)
            cells[key] = (row.participants, row.contributions)
            rows_of[key] = row
            if parent_by is not None and by != parent_by and row.parent is not None:
                parents[key] = (parent_by, row.parent)
    exact = all(by in EXACT_PARTICIPANTS for by in pair)
    # What a reader knows besides: a row with contributions at or above the threshold (shown, or
    # suppressed as "s", which means at least the threshold) has at least one participant.
    participant_floor = {k: 1 for k, (_p, c) in cells.items() if c >= threshold or k in nonzero}
    if total[1] >= threshold:
        participant_floor[TOTAL] = 1
    participants = privacy.protect_column(
        {k: v[0] for k, v in cells.items()}, total[0], threshold=threshold, exact=exact,
        lower_bounds=participant_floor, parents=parents,
    )
    # And contributions are at least the participants shown (or the threshold, for an "s").
    contribution_floor: dict[Hashable, int] = {k: 1 for k in nonzero if k in cells}
    for key in [*cells, TOTAL]:
        mark = participants.marks[key]
        value = total[0] if key == TOTAL else cells[key][0]
        if mark is Mark.shown:
            contribution_floor[key] = value
        elif mark is Mark.complementary:
            contribution_floor[key] = threshold
    contributions = privacy.protect_column(
        {k: v[1] for k, v in cells.items()}, total[1], threshold=threshold, exact=True,
        lower_bounds=contribution_floor, parents=parents,
    )
    for key, row in rows_of.items():
        _apply(row, participants, contributions, key)
    return any(
        protection.marks[TOTAL] is Mark.complementary for protection in (participants, contributions)
    )


def _apply(row: Row, participants: Protection, contributions: Protection, key: Hashable) -> None:
    row.participants_mark = participants.marks[key]
    row.contributions_mark = contributions.marks[key]
    row.shown_participants = participants.shown(key, row.participants)
    row.shown_contributions = contributions.shown(key, row.contributions)


def participation(session: Session, principal: Principal | None, filters: Filters, by: str, *,
                  now: datetime, threshold: int) -> Table:
    """One table, for the API and the CSV downloads (protected with its parent, as on the pages)."""
    if by not in BREAKDOWNS:
        raise InvalidFilters(gettext("Regroupement inconnu : %(by)s.", by=by))
    check_filters(session, principal, filters)
    return tables(session, filters, [by], now=now, threshold=threshold).tables[by]


# --- Representativeness


@dataclass
class Reach:
    key: str
    name: str
    population: int
    participants: int
    shown_participants: int | str
    mark: Mark
    rate: float | None  # participants per 1,000 inhabitants, None when suppressed
    rate_text: str  # "1.25", "<0.42" (primary) or "s"
    ratio: float | None  # to the basin's average
    ratio_text: str
    bound: float | None = None  # for a suppressed commune, the rate's upper (primary) or lower bound
    epci: str | None = None


@dataclass
class Representativeness:
    communes: list[Reach]
    epcis: list[Reach]
    least_reached: list[Reach]
    average: float | None  # participants per 1,000 inhabitants in the whole territory shown
    average_text: str
    population: int
    total_participants: int | str
    suppressed: bool
    threshold: int
    unknown_participants: int | str


def _rate(value: float) -> str:
    return f"{value:.2f}"


def representativeness(session: Session, principal: Principal | None, filters: Filters, *, now: datetime,
                       threshold: int) -> Representativeness:
    """Participants per 1,000 inhabitants for each commune and EPCI, with the commune table's own
    suppression (the same cells as the dashboard by commune). A suppressed count keeps its rate
    and ratio suppressed too: `<` a bound worked out from the threshold and the population only."""
    check_filters(session, principal, filters)
    found = tables(session, filters, ["commune", "epci"], now=now, threshold=threshold)
    communes = {c.insee_code: c for c in session.exec(select(Commune))}
    population = {key: commune.population for key, commune in communes.items()
                  if filters.epci_siren in (None, commune.epci_siren)}
    epci_population: dict[str, int] = {}
    for key in population:
        siren = communes[key].epci_siren
        epci_population[siren] = epci_population.get(siren, 0) + population[key]
    total_population = sum(population.values())
    total = found.total_participants
    average = total / total_population * 1000 if isinstance(total, int) and total_population else None

    def reach(row: Row, pop: int, epci: str | None = None) -> Reach:
        rate = row.participants / pop * 1000 if pop and row.participants_mark is Mark.shown else None
        ratio = rate / average if rate is not None and average else None
        bound = None
        if row.participants_mark is Mark.primary:
            bound = (threshold - 1) / pop * 1000 if pop else None
            rate_text = f"<{_rate(threshold / pop * 1000)}" if pop else "—"
            ratio_text = f"<{_rate(threshold / pop * 1000 / average)}" if pop and average else "—"
        elif row.participants_mark is Mark.complementary:
            bound = threshold / pop * 1000 if pop else None
            rate_text = ratio_text = privacy.SECRET_LABEL
        else:
            rate_text = _rate(rate) if rate is not None else "—"
            ratio_text = _rate(ratio) if ratio is not None else "—"
        return Reach(row.key, row.label, pop, row.participants, row.shown_participants, row.participants_mark,
                     rate, rate_text, ratio, ratio_text, bound, epci)

    commune_rows = [r for r in found.tables["commune"].rows if r.key != UNKNOWN]
    unknown = next((r for r in found.tables["commune"].rows if r.key == UNKNOWN), None)
    commune_reach = [reach(r, population.get(r.key, 0), communes[r.key].epci_siren) for r in commune_rows
                     if r.key in population]
    epci_reach = [reach(r, epci_population.get(r.key, 0)) for r in found.tables["epci"].rows if r.key != UNKNOWN]

    def order(item: Reach) -> tuple[int, float]:
        # Suppressed small counts first (by the bound of their rate, which depends on the population
        # only), then the others by rate; "s" cells, known to hold at least the threshold, last.
        if item.mark is Mark.primary:
            return (0, item.bound or 0.0)
        if item.mark is Mark.complementary:
            return (2, item.bound or 0.0)
        return (1, item.rate or 0.0)

    least = sorted(commune_reach, key=lambda item: (*order(item), -item.population, item.name))[:LEAST_REACHED]
    return Representativeness(
        communes=commune_reach, epcis=epci_reach, least_reached=least, average=average,
        average_text=_rate(average) if average is not None else privacy.SECRET_LABEL if found.tables[
            "commune"].totals_hidden else "—",
        population=total_population, total_participants=total, suppressed=found.suppressed, threshold=threshold,
        unknown_participants=unknown.shown_participants if unknown else 0,
    )


def scope_label(session: Session, filters: Filters) -> str:
    """The filters in words, for captions and file names."""
    parts = []
    if filters.consultation_id is not None:
        consultation = session.get(Consultation, filters.consultation_id)
        if consultation is not None:
            parts.append(gettext("consultation « %(title)s »", title=consultation.title))
    elif filters.axis_id is not None:
        axis = session.get(Axis, filters.axis_id)
        if axis is not None:
            parts.append(gettext("axe %(number)s", number=axis.number))
    else:
        parts.append(gettext("toutes les consultations"))
    if filters.epci_siren is not None:
        epci = session.get(Epci, filters.epci_siren)
        if epci is not None:
            parts.append(gettext("habitants de %(name)s", name=epci.name))
    if filters.since and filters.until:
        parts.append(gettext("du %(since)s au %(until)s", since=filters.since.isoformat(),
                             until=filters.until.isoformat()))
    elif filters.since:
        parts.append(gettext("depuis le %(since)s", since=filters.since.isoformat()))
    elif filters.until:
        parts.append(gettext("jusqu’au %(until)s", until=filters.until.isoformat()))
    return ", ".join(parts)

