"""/api/v1: axes and territory, read-only."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.core.db import SessionDep
from app.territory import service
from app.territory.schemas import AxisOut, CommuneOut, EpciOut

router = APIRouter(prefix="/api/v1", tags=["territory"])


@router.get("/axes", response_model=list[AxisOut], summary="The 16 priority axes")
def list_axes(session: SessionDep) -> list[AxisOut]:
    return [AxisOut.model_validate(axis, from_attributes=True) for axis in service.list_axes(session)]


@router.get("/territory/epcis", response_model=list[EpciOut], summary="Intercommunalités, signatories first")
def list_epcis(
    session: SessionDep,
    signatory: Annotated[bool | None, Query(description="Only the 8 signatories of the Engagement")] = None,
) -> list[EpciOut]:
    return [
        EpciOut(
            siren=row.epci.siren, name=row.epci.name, population=row.epci.population,
            commune_count=row.commune_count, is_signatory=row.epci.is_signatory,
        )
        for row in service.list_epcis(session, signatories_only=bool(signatory))
    ]


@router.get(
    "/territory/communes",
    response_model=list[CommuneOut],
    summary="Communes of the territory, by name (accents ignored) or postal code",
    description="The total number of matches is in the `X-Total-Count` header.",
)
def list_communes(
    session: SessionDep,
    response: Response,
    epci: Annotated[str | None, Query(pattern=r"^\d{9}$", description="SIREN of an EPCI")] = None,
    q: Annotated[str, Query(max_length=100, description="Part of a name, or a postal code")] = "",
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE_SIZE)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[CommuneOut]:
    page = service.search_communes(session, text=q, epci_siren=epci, limit=limit, offset=offset)
    response.headers["X-Total-Count"] = str(page.total)
    return [
        CommuneOut(
            insee_code=commune.insee_code, name=commune.name, epci_siren=commune.epci_siren,
            population=commune.population, postal_codes=[link.postal_code for link in commune.postal_codes],
        )
        for commune in page.items
    ]
