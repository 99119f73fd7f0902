"""Pages of evaluation: participation dashboards and representativeness (/evaluation/...), each
chart with its table and a CSV of exactly what the table shows."""

from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from babel.dates import format_date
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, col, select

from app.accounts.deps import CurrentPrincipal
from app.accounts.policy import Principal
from app.core.clock import NowDep
from app.core.csv import csv_rows
from app.core.db import SessionDep
from app.core.errors import NotFound
from app.core.i18n import N_, gettext, ngettext
from app.core.i18n import get_locale as locale
from app.core.templating import render
from app.evaluation import charts, stats
from app.evaluation.privacy import Mark
from app.evaluation.stats import Filters, Representativeness, Table
from app.territory.models import Epci

router = APIRouter(include_in_schema=False)
charts.outlines()  # project the map's outlines once, when the application starts

Param = Annotated[str, Query(max_length=20)]

# page slug → (title, lead, tables shown)
PAGES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "dans-le-temps": (N_("Participation dans le temps"), N_("Participants et contributions par jour et par semaine."),
                      ("week", "day")),
    "axes": (N_("Participation par axe et par consultation"),
             N_("Participants et contributions pour chaque axe et chaque consultation."), ("axis", "consultation")),
    "territoire": (N_("Participation par territoire"),
                   N_("Participants et contributions selon l’intercommunalité et la commune où vivent les "
                      "participants."), ("epci", "commune")),
    "publics": (N_("Participation par âge et par canal"),
                N_("Participants et contributions par tranche d’âge, en ligne ou accompagnés par un médiateur."),
                ("age_bracket", "channel")),
}
TABLE_TITLES = {
    "axis": N_("Par axe"), "consultation": N_("Par consultation"), "epci": N_("Par intercommunalité"),
    "commune": N_("Par commune"), "age_bracket": N_("Par tranche d’âge"), "channel": N_("Par canal"),
    "day": N_("Par jour"), "week": N_("Par semaine"),
}
FIRST_COLUMN = {
    "axis": N_("Axe"), "consultation": N_("Consultation"), "epci": N_("Intercommunalité"), "commune": N_("Commune"),
    "age_bracket": N_("Tranche d’âge"), "channel": N_("Canal"), "day": N_("Jour"), "week": N_("Semaine"),
}
# French names of the groupings in URLs and files
BY_SLUGS = {"axe": "axis", "consultation": "consultation", "epci": "epci", "commune": "commune",
            "age": "age_bracket", "canal": "channel", "jour": "day", "semaine": "week"}
SLUG_OF = {by: slug for slug, by in BY_SLUGS.items()}


def threshold_of(request: Request) -> int:
    return request.app.state.settings.privacy_threshold


def _date(value: str, name: str, errors: dict[str, list[str]]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.setdefault(name, []).append(gettext("Indiquez une date au format AAAA-MM-JJ."))
        return None


def _int(value: str, name: str, errors: dict[str, list[str]]) -> int | None:
    if not value:
        return None
    if not value.isdigit():
        errors.setdefault(name, []).append(gettext("Choisissez dans la liste."))
        return None
    return int(value)


def parse_filters(axe: str, consultation: str, depuis: str, jusqu_au: str, epci: str
                  ) -> tuple[Filters, dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    filters = Filters(
        axis_id=_int(axe, "axe", errors), consultation_id=_int(consultation, "consultation", errors),
        since=_date(depuis, "depuis", errors), until=_date(jusqu_au, "jusqu_au", errors),
        epci_siren=epci or None,
    )
    if filters.since and filters.until and filters.since > filters.until:
        errors.setdefault("jusqu_au", []).append(gettext("La date de fin doit suivre la date de début."))
    if errors:
        filters = Filters(filters.axis_id if "axe" not in errors else None,
                          filters.consultation_id if "consultation" not in errors else None,
                          None if "depuis" in errors or "jusqu_au" in errors else filters.since,
                          None if "depuis" in errors or "jusqu_au" in errors else filters.until, filters.epci_siren)
    return filters, errors


def _relabel(table: Table) -> None:
    """Days and weeks as the reader's language writes them."""
    if table.by == "day":
        for row in table.rows:
            row.label = format_date(date.fromisoformat(row.key), "d MMM yyyy", locale=locale())
    elif table.by == "week":
        for row in table.rows:
            row.label = gettext("Semaine du %(day)s",
                                day=format_date(date.fromisoformat(row.key), "d MMM yyyy", locale=locale()))


def _chart(table: Table, title: str) -> Any:
    bars = [charts.Bar(row.label, row.participants if row.participants_mark is Mark.shown else None,
                       row.contributions if row.contributions_mark is Mark.shown else None,
                       str(row.shown_participants), str(row.shown_contributions),
                       format_date(date.fromisoformat(row.key), "d MMM", locale=locale())
                       if table.by in ("day", "week") else "") for row in table.rows]
    shown = [row for row in table.rows if row.participants_mark is Mark.shown]
    most = max(shown, key=lambda row: row.participants, default=None)
    desc = gettext("Participants (barre épaisse) et contributions (barre fine). %(count)s lignes.",
                   count=len(table.rows))
    if most is not None:
        desc += " " + gettext("Le plus de participants : %(label)s (%(count)s).", label=most.label,
                              count=most.participants)
    desc += " " + gettext("Tous les chiffres sont dans le tableau qui suit.")
    chart_id = f"graphique-{SLUG_OF[table.by]}"
    if table.by in ("day", "week"):
        every = 7 if table.by == "day" else 4
        return charts.time_series(chart_id, title, desc, bars, threshold=table.threshold,
                                  tick_every=max(every, -(-len(bars) // 6)))
    return charts.bar_chart(chart_id, title, desc, bars, threshold=table.threshold)


def _options(session: Session, principal: Principal) -> dict[str, Any]:
    sees_all, axes, consultations = stats.visible_scopes(session, principal)
    epcis = session.exec(select(Epci).order_by(col(Epci.is_signatory).desc(), col(Epci.name))).all()
    return {
        "sees_all": sees_all,
        "axes": [(str(a.id), gettext("Axe %(number)s — %(title)s", number=a.number, title=a.title)) for a in axes],
        "consultations": [(str(c.id), c.title) for c in consultations],
        "epcis": [(e.siren, e.name) for e in epcis],
    }


def _context(request: Request, session: Session, principal: Principal, filters: Filters,
             errors: dict[str, list[str]], page: str) -> dict[str, Any]:
    query = filters.query()
    return {
        "filters": filters, "errors": errors, "options": _options(session, principal), "page": page,
        "query": ("?" + urlencode(query)) if query else "", "scope_label": stats.scope_label(session, filters),
        "threshold": threshold_of(request),
        "pages": [(slug, gettext(title)) for slug, (title, _lead, _bys) in PAGES.items()],
        # What was typed comes back, even when it was refused.
        "values": {name: request.query_params.get(name) or str(value or "") for name, value in (
            ("axe", filters.axis_id), ("consultation", filters.consultation_id), ("depuis", filters.since),
            ("jusqu_au", filters.until), ("epci", filters.epci_siren))},
    }


def _start(session: Session, principal: Principal, filters: Filters) -> Filters:
    if not stats.may_see_any(session, principal):
        raise stats.FiguresForbidden()
    filters = stats.default_filters(session, principal, filters)
    return stats.check_filters(session, principal, filters)


@router.get("/evaluation", response_class=HTMLResponse, name="evaluation:home")
def home(request: Request, session: SessionDep, now: NowDep, principal: CurrentPrincipal, axe: Param = "",
         consultation: Param = "", depuis: Param = "", jusqu_au: Param = "", epci: Param = "") -> HTMLResponse:
    filters, errors = parse_filters(axe, consultation, depuis, jusqu_au, epci)
    filters = _start(session, principal, filters)
    found = stats.tables(session, filters, ["epci", "age_bracket", "channel"], now=now,
                         threshold=threshold_of(request))
    return render(request, "evaluation/home.html", active="backoffice", found=found,
                  channel=found.tables["channel"], **_context(request, session, principal, filters, errors, "home"),
                  status_code=400 if errors else 200)


@router.get("/evaluation/representativite", response_class=HTMLResponse, name="evaluation:representativeness")
def representativeness(request: Request, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
                       axe: Param = "", consultation: Param = "", depuis: Param = "", jusqu_au: Param = "",
                       epci: Param = "") -> HTMLResponse:
    filters, errors = parse_filters(axe, consultation, depuis, jusqu_au, epci)
    filters = _start(session, principal, filters)
    reach = stats.representativeness(session, principal, filters, now=now, threshold=threshold_of(request))
    commune_legend, commune_map = _map(reach, "communes")
    epci_legend, epci_map = _map(reach, "epcis")
    return render(request, "evaluation/representativeness.html", active="backoffice", reach=reach,
                  commune_map=commune_map, commune_legend=commune_legend, epci_map=epci_map, epci_legend=epci_legend,
                  outline_source=charts.OUTLINE_SOURCE, population_source=charts.POPULATION_SOURCE,
                  **_context(request, session, principal, filters, errors, "representativite"),
                  status_code=400 if errors else 200)


def _decimal(value: float) -> str:
    text = f"{value:.2f}"
    return text.replace(".", ",") if locale() == "fr" else text


def _per_thousand(text: str) -> str:
    return gettext("%(rate)s pour 1 000 habitants", rate=text.replace(".", "," if locale() == "fr" else "."))


def _map(reach: Representativeness, level: str) -> tuple[list[charts.MapClass], Any]:
    items = reach.communes if level == "communes" else reach.epcis
    rates = [item.rate for item in items if item.rate is not None]
    breaks = charts.quantile_breaks(rates)
    classes: list[charts.MapClass] = []
    low = 0.0
    for index, upper in enumerate(breaks):
        classes.append(charts.MapClass(f"cr-map__class--{index + 1}", gettext(
            "de %(low)s à %(high)s pour 1 000 habitants", low=_decimal(low), high=_decimal(upper))))
        low = upper
    threshold = reach.threshold
    classes.append(charts.MapClass("cr-map__class--small", gettext("moins de %(n)s participants", n=threshold)))
    if any(item.mark is Mark.complementary for item in items):
        classes.append(charts.MapClass("cr-map__class--secret", gettext("masqué (secret statistique)")))
    areas = []
    for item in items:
        if item.mark is Mark.primary:
            css = "cr-map__class--small"
            figure = gettext("moins de %(n)s participants", n=threshold)
        elif item.mark is Mark.complementary:
            css = "cr-map__class--secret"
            figure = gettext("chiffre masqué (secret statistique)")
        else:
            css = f"cr-map__class--{charts.class_of(item.rate or 0.0, breaks)}"
            figure = _per_thousand(item.rate_text) + " (" + ngettext(
                "%(num)d participant", "%(num)d participants", item.participants) % {"num": item.participants} + ")"
        areas.append(charts.Area(item.key, css, f"{item.name} : {figure}"))
    title = gettext("Carte des participants pour 1 000 habitants, par commune") if level == "communes" else gettext(
        "Carte des participants pour 1 000 habitants, par intercommunalité")
    desc = gettext("Chaque territoire est coloré selon sa classe ; la légende et le tableau suivent. "
                   "Chaque territoire de la carte peut recevoir le focus et annonce son nom et son chiffre.")
    return classes, charts.choropleth(f"carte-{level}", title, desc, areas, level=level)


def _csv_response(header: list[str], rows: list[list[Any]], name: str) -> Response:
    body = "".join(csv_rows(header, rows))
    return Response(body, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


def table_csv(table: Table) -> tuple[list[str], list[list[Any]]]:
    """Exactly what the page's table shows: its rows, then the total (suppressed cells as on the page)."""
    header = [gettext("Clé"), gettext(FIRST_COLUMN[table.by]), gettext("Participants"), gettext("Contributions")]
    rows: list[list[Any]] = [[row.key, row.label, row.shown_participants, row.shown_contributions]
                             for row in table.rows]
    rows.append(["", gettext("Total"), table.total_participants, table.total_contributions])
    return header, rows


@router.get("/evaluation/donnees.csv", name="evaluation:csv", include_in_schema=False)
def data_csv(request: Request, session: SessionDep, now: NowDep, principal: CurrentPrincipal, par: Param = "axe",
             axe: Param = "", consultation: Param = "", depuis: Param = "", jusqu_au: Param = "",
             epci: Param = "") -> Response:
    by = BY_SLUGS.get(par)
    if by is None:
        raise stats.InvalidFilters(gettext("Regroupement inconnu : %(by)s.", by=par))
    filters, errors = parse_filters(axe, consultation, depuis, jusqu_au, epci)
    if errors:
        raise stats.InvalidFilters(next(iter(errors.values()))[0])
    filters = _start(session, principal, filters)
    table = stats.participation(session, principal, filters, by, now=now, threshold=threshold_of(request))
    _relabel(table)
    header, rows = table_csv(table)
    return _csv_response(header, rows, f"participation-par-{par}.csv")


def reach_csv(reach: Representativeness, level: str) -> tuple[list[str], list[list[Any]]]:
    header = [gettext("Code"), gettext("Commune") if level == "commune" else gettext("Intercommunalité"),
              gettext("Population"), gettext("Participants"), gettext("Participants pour 1 000 habitants"),
              gettext("Rapport à la moyenne du territoire")]
    items = reach.communes if level == "commune" else reach.epcis
    rows: list[list[Any]] = [[i.key, i.name, i.population, i.shown_participants, i.rate_text, i.ratio_text]
                             for i in items]
    rows.append(["", gettext("Total"), reach.population, reach.total_participants, reach.average_text, "1.00"
                 if reach.average is not None else "—"])
    return header, rows


@router.get("/evaluation/representativite.csv", name="evaluation:representativeness-csv")
def representativeness_csv(request: Request, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
                           niveau: Param = "commune", axe: Param = "", consultation: Param = "", depuis: Param = "",
                           jusqu_au: Param = "", epci: Param = "") -> Response:
    if niveau not in ("commune", "epci"):
        raise stats.InvalidFilters(gettext("Niveau inconnu : %(level)s.", level=niveau))
    filters, errors = parse_filters(axe, consultation, depuis, jusqu_au, epci)
    if errors:
        raise stats.InvalidFilters(next(iter(errors.values()))[0])
    filters = _start(session, principal, filters)
    reach = stats.representativeness(session, principal, filters, now=now, threshold=threshold_of(request))
    header, rows = reach_csv(reach, niveau)
    return _csv_response(header, rows, f"representativite-par-{niveau}.csv")


# Last: the pages by name, once the fixed paths above have been tried.
@router.get("/evaluation/{page}", response_class=HTMLResponse, name="evaluation:page")
def dashboard(request: Request, page: str, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
              axe: Param = "", consultation: Param = "", depuis: Param = "", jusqu_au: Param = "",
              epci: Param = "") -> HTMLResponse:
    if page not in PAGES:
        raise NotFound()
    filters, errors = parse_filters(axe, consultation, depuis, jusqu_au, epci)
    filters = _start(session, principal, filters)
    title, lead, bys = PAGES[page]
    note = None
    try:
        found = stats.tables(session, filters, bys, now=now, threshold=threshold_of(request))
    except stats.PeriodTooLong:  # years of days: the weeks alone, and a word on how to see days
        bys = tuple(by for by in bys if by != "day")
        found = stats.tables(session, filters, bys, now=now, threshold=threshold_of(request))
        note = gettext("La période dépasse trois ans : choisissez des dates pour voir le détail par jour.")
    context = _context(request, session, principal, filters, errors, page)
    sections = []
    for by in bys:
        table = found.tables[by]
        _relabel(table)
        heading = gettext(TABLE_TITLES[by])
        sections.append({
            "by": by, "slug": SLUG_OF[by], "title": heading, "table": table,
            "first_column": gettext(FIRST_COLUMN[by]),
            "chart": _chart(table, gettext("%(what)s : participants et contributions", what=heading)),
            "csv": "/evaluation/donnees.csv?" + urlencode(filters.query(par=SLUG_OF[by])),
        })
    return render(request, "evaluation/page.html", active="backoffice", title=gettext(title), lead=gettext(lead),
                  sections=sections, found=found, note=note, **context, status_code=400 if errors else 200)
