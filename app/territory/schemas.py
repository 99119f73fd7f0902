"""Shapes of the territory API."""

from pydantic import BaseModel


class AxisOut(BaseModel):
    id: int
    number: int
    slug: str
    title: str
    description: str


class EpciOut(BaseModel):
    siren: str
    name: str
    population: int | None
    commune_count: int
    is_signatory: bool


class CommuneOut(BaseModel):
    insee_code: str
    name: str
    epci_siren: str
    population: int
    postal_codes: list[str]
