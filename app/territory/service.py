"""Read the territory: axes, EPCIs and communes (search by name or postal code)."""

from dataclasses import dataclass

from sqlalchemy import case, func
from sqlalchemy.orm import selectinload
from sqlmodel import Session, col, select

from app.core.errors import NotFound
from app.core.i18n import N_
from app.territory.models import Axis, Commune, CommunePostalCode, Epci
from app.territory.search import fold, looks_like_postal_code

MAX_PAGE_SIZE = 500


class AxisNotFound(NotFound):
    message = N_("Cet axe n’existe pas.")


_EPCI_KINDS = {
    "CA ": "la Communauté d’agglomération ",
    "CC ": "la Communauté de communes ",
    "CU ": "la Communauté urbaine ",
    "Métropole ": "la Métropole ",
}


def epci_in_words(name: str) -> str:
    """An EPCI's official short name ("CA de Lens - Liévin") as a sentence says it after "de":
    "la Communauté d’agglomération de Lens - Liévin"."""
    for prefix, words in _EPCI_KINDS.items():
        if name.startswith(prefix):
            return words + name[len(prefix):]
    return name


@dataclass(frozen=True)
class EpciSummary:
    epci: Epci
    commune_count: int


@dataclass(frozen=True)
class CommunePage:
    items: list[Commune]
    total: int
    limit: int
    offset: int


def list_axes(session: Session) -> list[Axis]:
    return list(session.exec(select(Axis).order_by(col(Axis.number))))


def get_axis(session: Session, slug: str) -> Axis:
    axis = session.exec(select(Axis).where(Axis.slug == slug)).first()
    if axis is None:
        raise AxisNotFound()
    return axis


def list_epcis(session: Session, *, signatories_only: bool = False) -> list[EpciSummary]:
    """EPCIs with the number of their communes stored in the territory, signatories first."""
    counts = (
        select(Commune.epci_siren, func.count().label("n")).group_by(col(Commune.epci_siren)).subquery()
    )
    query = (
        select(Epci, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.epci_siren == Epci.siren)
        .order_by(col(Epci.is_signatory).desc(), col(Epci.name))
    )
    if signatories_only:
        query = query.where(col(Epci.is_signatory))
    return [EpciSummary(epci, count) for epci, count in session.exec(query)]


def search_communes(
    session: Session, *, text: str = "", epci_siren: str | None = None, limit: int = 50, offset: int = 0
) -> CommunePage:
    """Communes whose name (accents and case folded) or postal code matches `text`,
    names starting with it first, then alphabetical."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    offset = max(0, offset)
    query = select(Commune)
    if epci_siren:
        query = query.where(Commune.epci_siren == epci_siren)
    folded = fold(text)
    starts_first = None
    if looks_like_postal_code(text):
        code = text.strip()
        by_postal_code = select(CommunePostalCode.insee_code).where(
            col(CommunePostalCode.postal_code).startswith(code)
        )
        matches = col(Commune.insee_code).in_(by_postal_code)
        if len(code) == 5:
            matches = matches | (Commune.insee_code == code)  # an INSEE code typed in full
        query = query.where(matches)
    elif folded:
        query = query.where(col(Commune.search_name).contains(folded, autoescape=True))
        starts_first = case((col(Commune.search_name).startswith(folded, autoescape=True), 0), else_=1)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    ordering = [col(Commune.search_name), col(Commune.insee_code)]
    if starts_first is not None:
        ordering.insert(0, starts_first)  # type: ignore[arg-type]
    page = session.exec(
        query.options(selectinload(Commune.postal_codes)).order_by(*ordering).limit(limit).offset(offset)  # type: ignore[arg-type]
    )
    return CommunePage(items=list(page), total=total, limit=limit, offset=offset)


def get_commune(session: Session, insee_code: str) -> Commune | None:
    return session.get(Commune, insee_code)


def count_communes(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Commune)).one()
