"""The satisfaction page of the evaluation dashboards (/evaluation/satisfaction): residents' ratings
of the actions by action, by axis and by EPCI, each table with its chart and a CSV of exactly what
it shows (/evaluation/satisfaction.csv?par=action|axe|epci). Included before the dashboards'
router, whose /evaluation/{page} would take the path otherwise."""

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from app.accounts.deps import CurrentPrincipal
from app.core.csv import csv_rows
from app.core.db import SessionDep
from app.core.i18n import N_, gettext
from app.core.i18n import get_locale as locale
from app.core.templating import render
from app.evaluation import satisfaction, stats
from app.evaluation.routes import Param, _context, parse_filters, threshold_of

router = APIRouter(include_in_schema=False)

SLUGS = {"action": "action", "axe": "axis", "epci": "epci"}
SLUG_OF = {by: slug for slug, by in SLUGS.items()}
TITLES = {"action": N_("Par action"), "axis": N_("Par axe"), "epci": N_("Par intercommunalité des habitants")}
FIRST_COLUMN = {"action": N_("Action"), "axis": N_("Axe"), "epci": N_("Intercommunalité")}


@router.get("/evaluation/satisfaction", response_class=HTMLResponse, name="evaluation:satisfaction")
def satisfaction_page(request: Request, session: SessionDep, principal: CurrentPrincipal, axe: Param = "",
                      consultation: Param = "", depuis: Param = "", jusqu_au: Param = "",
                      epci: Param = "") -> HTMLResponse:
    filters, errors = parse_filters(axe, consultation, depuis, jusqu_au, epci)
    found = satisfaction.satisfaction(session, principal, filters, threshold=threshold_of(request))
    sections: list[dict[str, Any]] = []
    for by, table in found.tables.items():
        title = gettext(TITLES[by])
        caption = gettext("%(what)s : nombre d’évaluations et note moyenne sur 5", what=title)
        desc = gettext("Note moyenne sur 5 de chaque ligne ; une ligne masquée n’a pas de barre. "
                       "Tous les chiffres sont dans le tableau qui suit.")
        sections.append({
            "by": by, "slug": SLUG_OF[by], "title": title, "caption": caption, "table": table,
            "first_column": gettext(FIRST_COLUMN[by]),
            "chart": satisfaction.average_chart(f"graphique-satisfaction-{SLUG_OF[by]}", caption, desc, table,
                                                locale()),
            "csv": "/evaluation/satisfaction.csv?" + urlencode(found.filters.query(par=SLUG_OF[by])),
        })
    context = _context(request, session, principal, found.filters, errors, "satisfaction")
    return render(request, "evaluation/satisfaction.html", active="backoffice", found=found, sections=sections,
                  average=lambda value: satisfaction.average_text(value, locale()), **context,
                  status_code=400 if errors else 200)


@router.get("/evaluation/satisfaction.csv", name="evaluation:satisfaction-csv")
def satisfaction_csv(request: Request, session: SessionDep, principal: CurrentPrincipal, par: Param = "action",
                     axe: Param = "", consultation: Param = "", depuis: Param = "", jusqu_au: Param = "",
                     epci: Param = "") -> Response:
    by = SLUGS.get(par)
    if by is None:
        raise stats.InvalidFilters(gettext("Regroupement inconnu : %(by)s.", by=par))
    filters, errors = parse_filters(axe, consultation, depuis, jusqu_au, epci)
    if errors:
        raise stats.InvalidFilters(next(iter(errors.values()))[0])
    found = satisfaction.satisfaction(session, principal, filters, threshold=threshold_of(request))
    header, rows = satisfaction.csv_table(found.tables[by], gettext(FIRST_COLUMN[by]))
    return Response("".join(csv_rows(header, rows)), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="satisfaction-par-{par}.csv"', "Cache-Control": "no-store"})
