"""Pages: the territory with its commune search (an axis's page lists its consultations: it is served
by app.consultations.routes, which may read the territory)."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from app.core.db import SessionDep
from app.core.templating import render
from app.territory import service

router = APIRouter(include_in_schema=False)

COMMUNES_PER_PAGE = 20


@router.get("/territoire", response_class=HTMLResponse, name="territory:index")
def territory_page(
    request: Request,
    session: SessionDep,
    q: Annotated[str, Query(max_length=100)] = "",
    epci: Annotated[str, Query(max_length=9)] = "",
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
) -> HTMLResponse:
    epcis = service.list_epcis(session)
    known_sirens = {row.epci.siren for row in epcis}
    selected_epci = epci if epci in known_sirens else ""
    results = service.search_communes(
        session, text=q, epci_siren=selected_epci or None,
        limit=COMMUNES_PER_PAGE, offset=(page - 1) * COMMUNES_PER_PAGE,
    )
    page_count = max(1, -(-results.total // COMMUNES_PER_PAGE))
    if page > page_count:  # past the end (an old link): show the last page
        page = page_count
        results = service.search_communes(
            session, text=q, epci_siren=selected_epci or None,
            limit=COMMUNES_PER_PAGE, offset=(page - 1) * COMMUNES_PER_PAGE,
        )
    epci_names = {row.epci.siren: row.epci.short_name or row.epci.name for row in epcis}
    return render(
        request, "territory/index.html", fragment="territory/_commune_results.html",
        signatories=[row for row in epcis if row.epci.is_signatory],
        others=[row for row in epcis if not row.epci.is_signatory],
        epci_names=epci_names, epci_options=list(epci_names.items()),
        q=q, selected_epci=selected_epci, results=results, page=page,
        page_count=page_count,
        commune_count=service.count_communes(session),
    )
