"""Residents' satisfaction with the actions, for evaluators: the ratings (1-5) by action, by axis and
by EPCI of the rater's residence (user_account.commune_insee → commune.epci_siren; ratings of erased
accounts, or of people with no commune, count under "inconnu").

Privacy. Without a period or an EPCI filter, the figures by action and by axis are the ones every
action page shows: they are public and shown whole. The table by EPCI never is: its counts go
through the small-count suppression of app.evaluation.privacy (threshold `privacy_threshold`),
with complementary suppression so that no count can be recovered from the total; then, because
the total's average is shown, the suppressed rows together must hold at least the threshold (or
none), else one more row is suppressed, so that their pooled average is never that of fewer people.
An average is shown only beside a count that is shown. With a period or an EPCI filter, the tables
by action and by axis are no longer what the public sees and are protected the same way.

The export of a consultation's ratings is in app.evaluation.ratings (`--what evaluations`)."""

from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal
from markupsafe import Markup, escape
from sqlalchemy import func
from sqlmodel import Session, col, select

from app.accounts.models import User
from app.accounts.policy import Principal
from app.actions.models import ActionEvaluation, PublicAction
from app.consultations.models import Consultation, ConsultationStatus
from app.core.i18n import gettext
from app.evaluation import privacy, stats
from app.evaluation.privacy import TOTAL, Mark
from app.evaluation.stats import Filters
from app.territory.models import Axis, Commune, Epci

PARIS = ZoneInfo("Europe/Paris")
UNKNOWN = ""  # the key of the unknown EPCI
BYS = ("action", "axis", "epci")


@dataclass
class SatisfactionRow:
    key: str
    label: str
    count: int
    total: int  # the sum of the ratings
    parent: str | None = None  # actions: their axis
    mark: Mark = Mark.shown
    shown_count: int | str = 0

    @property
    def average(self) -> float | None:
        return round(self.total / self.count, 2) if self.count else None

    @property
    def shown_average(self) -> float | None:
        """The average as published: only beside a count that is shown."""
        return self.average if self.mark is Mark.shown else None


@dataclass
class SatisfactionTable:
    by: str
    rows: list[SatisfactionRow]
    count: int
    total: int
    shown_count: int | str
    protected: bool  # the small-count suppression applies to this table
    suppressed: bool = False

    @property
    def average(self) -> float | None:
        return round(self.total / self.count, 2) if self.count else None

    @property
    def shown_average(self) -> float | None:
        return self.average if isinstance(self.shown_count, int) else None


@dataclass
class Satisfaction:
    filters: Filters
    threshold: int
    public: bool  # no period nor EPCI filter: by action and by axis as on the action pages
    tables: dict[str, SatisfactionTable] = field(default_factory=dict)


def check(session: Session, principal: Principal | None, filters: Filters) -> Filters:
    """Who may read these figures (Action.view_participation_figures on the filters' scope): as the
    participation dashboards; someone with a few axes only gets the first when they chose none."""
    if not stats.may_see_any(session, principal):
        raise stats.FiguresForbidden()
    filters = stats.default_filters(session, principal, filters)
    return stats.check_filters(session, principal, filters)


def _utc_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=PARIS).astimezone(UTC)


def _rated(filters: Filters) -> Any:
    """Ratings of actions of published (or archived) consultations within the filters, with the
    action, its axis and the rater's EPCI (None when unknown)."""
    query = (
        select(PublicAction.id, Consultation.axis_id, Commune.epci_siren, func.count(),
               func.sum(ActionEvaluation.rating))
        .select_from(ActionEvaluation)
        .join(PublicAction, col(PublicAction.id) == col(ActionEvaluation.action_id))
        .join(Consultation, col(Consultation.id) == col(PublicAction.consultation_id))
        .outerjoin(User, col(User.id) == col(ActionEvaluation.user_id))
        .outerjoin(Commune, col(Commune.insee_code) == col(User.commune_insee))
        .where(col(Consultation.status) != ConsultationStatus.draft)
    )
    if filters.consultation_id is not None:
        query = query.where(col(Consultation.id) == filters.consultation_id)
    if filters.axis_id is not None:
        query = query.where(col(Consultation.axis_id) == filters.axis_id)
    if filters.since is not None:
        query = query.where(col(ActionEvaluation.updated_at) >= _utc_start(filters.since))
    if filters.until is not None:
        query = query.where(col(ActionEvaluation.updated_at) < _utc_start(filters.until + timedelta(days=1)))
    if filters.epci_siren is not None:
        query = query.where(col(Commune.epci_siren) == filters.epci_siren)
    return query.group_by(col(PublicAction.id), col(Consultation.axis_id), col(Commune.epci_siren))


def _labels(session: Session, filters: Filters) -> dict[str, list[tuple[str, str, str | None]]]:
    """Every row of each table, rated or not: (key, label, parent)."""
    consultations = select(Consultation.id).where(col(Consultation.status) != ConsultationStatus.draft)
    if filters.consultation_id is not None:
        consultations = consultations.where(col(Consultation.id) == filters.consultation_id)
    if filters.axis_id is not None:
        consultations = consultations.where(col(Consultation.axis_id) == filters.axis_id)
    actions = session.exec(
        select(PublicAction.id, PublicAction.title, Consultation.axis_id, Axis.number)
        .join(Consultation, col(Consultation.id) == col(PublicAction.consultation_id))
        .join(Axis, col(Axis.id) == col(Consultation.axis_id))
        .where(col(PublicAction.consultation_id).in_(consultations))
        .order_by(col(Axis.number), col(PublicAction.title), col(PublicAction.id))
    ).all()
    axis_ids = {axis_id for _i, _t, axis_id, _n in actions}
    if filters.axis_id is not None:
        axis_ids.add(filters.axis_id)
    axes = session.exec(select(Axis).order_by(col(Axis.number))).all()
    if filters.axis_id is not None or filters.consultation_id is not None:
        axes = [a for a in axes if a.id in axis_ids]
    epcis = session.exec(select(Epci).order_by(col(Epci.is_signatory).desc(), col(Epci.name))).all()
    epci_rows = [(e.siren, e.name, None) for e in epcis if filters.epci_siren in (None, e.siren)]
    if filters.epci_siren is None:
        epci_rows.append((UNKNOWN, gettext("Inconnue (compte effacé ou commune non renseignée)"), None))
    return {
        "action": [(str(i), gettext("%(title)s (axe %(number)s)", title=t, number=n), str(a))
                   for i, t, a, n in actions],
        "axis": [(str(a.id), gettext("Axe %(number)s — %(title)s", number=a.number, title=a.title), None)
                 for a in axes],
        "epci": epci_rows,
    }


def _protect(table: SatisfactionTable, threshold: int) -> None:
    """Small counts suppressed (complementary cells too); then the suppressed rows together hold at
    least the threshold (or nobody), since the total's average is shown."""
    values: dict[Hashable, int] = {row.key: row.count for row in table.rows}
    protection = privacy.protect_column(values, table.count, threshold=threshold)
    marks = dict(protection.marks)
    while True:
        hidden = sum(row.count for row in table.rows if marks[row.key] is not Mark.shown)
        shown = [row for row in table.rows if marks[row.key] is Mark.shown]
        if not 0 < hidden < threshold or not shown:
            break
        smallest = min(shown, key=lambda row: row.count)
        marks[smallest.key] = Mark.complementary
    if 0 < sum(row.count for row in table.rows if marks[row.key] is not Mark.shown) < threshold:
        marks[TOTAL] = Mark.complementary  # one row and a tiny total: nothing left to hide behind
    for row in table.rows:
        row.mark = marks[row.key]
        row.shown_count = privacy.display(row.mark, row.count, threshold)
    table.shown_count = privacy.display(marks[TOTAL], table.count, threshold)
    table.suppressed = any(mark is not Mark.shown for mark in marks.values())


def satisfaction(session: Session, principal: Principal | None, filters: Filters, *, threshold: int) -> Satisfaction:
    """The three tables, checked against the reader's permissions and protected."""
    filters = check(session, principal, filters)
    public = filters.since is None and filters.until is None and filters.epci_siren is None
    counts: dict[str, Counter[str]] = {by: Counter() for by in BYS}
    sums: dict[str, Counter[str]] = {by: Counter() for by in BYS}
    for action_id, axis_id, epci, n, total in session.execute(_rated(filters)):
        for by, key in (("action", str(action_id)), ("axis", str(axis_id)), ("epci", epci or UNKNOWN)):
            counts[by][key] += int(n)
            sums[by][key] += int(total or 0)
    found = Satisfaction(filters, threshold, public)
    labels = _labels(session, filters)
    count, total = sum(counts["action"].values()), sum(sums["action"].values())
    for by in BYS:
        rows = [SatisfactionRow(key, label, counts[by][key], sums[by][key], parent, shown_count=counts[by][key])
                for key, label, parent in labels[by]]
        protected = by == "epci" or not public
        table = SatisfactionTable(by, rows, count, total, count, protected)
        if protected:
            _protect(table, threshold)
        found.tables[by] = table
    return found


def average_text(value: float | None, locale: str) -> str:
    """One decimal, as the reader's language writes it; "—" when there is nothing to show."""
    if value is None:
        return "—"
    return format_decimal(round(value, 1), format="0.0", locale=locale)


def csv_table(table: SatisfactionTable, first_column: str) -> tuple[list[str], list[list[Any]]]:
    """Exactly what the page's table shows: its rows, then the total (averages with a dot)."""
    header = [gettext("Clé"), first_column, gettext("Évaluations"), gettext("Moyenne sur 5")]
    rows: list[list[Any]] = [[row.key, row.label, row.shown_count, average_text(row.shown_average, "en")]
                             for row in table.rows]
    rows.append(["", gettext("Total"), table.shown_count, average_text(table.shown_average, "en")])
    return header, rows


# --- the chart: one bar per row, its average on a scale of 0 to 5


def average_chart(chart_id: str, title: str, desc: str, table: SatisfactionTable, locale: str) -> Any:
    """Horizontal bars of the averages shown (SVG, classes only: no inline style under the CSP); a
    row whose figures are suppressed gets no bar, only its mark. The table beside it has every figure."""

    label_width, bar_left, bar_width, row_height = 300.0, 310.0, 400.0, 30.0
    width, height = bar_left + bar_width + 120, max(row_height * len(table.rows), row_height) + 10

    def attr(value: object) -> str:
        return str(escape(str(value)))

    body = []
    for index, row in enumerate(table.rows):
        y = 5 + index * row_height
        label = row.label if len(row.label) <= 40 else row.label[:39].rstrip() + "…"
        body.append(f'<text class="cr-graph__label" x="{label_width:.0f}" y="{y + 18:.0f}" text-anchor="end">'
                    f"{attr(label)}</text>")
        average = row.shown_average
        length = (average or 0) / 5 * bar_width
        if average is not None:
            body.append(f'<rect class="cr-graph__bar cr-graph__bar--participants" x="{bar_left:.0f}" y="{y + 4:.0f}"'
                        f' width="{length:.1f}" height="18"/>')
            text = average_text(average, locale)
        else:
            text = str(row.shown_count) if row.mark is not Mark.shown else "—"
        body.append(f'<text class="cr-graph__value" x="{bar_left + length + 6:.1f}" y="{y + 18:.0f}">'
                    f"{attr(text)}</text>")
    return Markup(
        f'<svg class="cr-graph cr-graph--bars" id="{attr(chart_id)}" viewBox="0 0 {width:.0f} {height:.0f}"'
        f' role="img" aria-labelledby="{attr(chart_id)}-title {attr(chart_id)}-desc" focusable="false"'
        f' xmlns="http://www.w3.org/2000/svg"><title id="{attr(chart_id)}-title">{attr(title)}</title>'
        f'<desc id="{attr(chart_id)}-desc">{attr(desc)}</desc>' + "".join(body) + "</svg>"
    )
