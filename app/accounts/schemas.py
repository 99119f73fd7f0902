"""Shapes of the accounts API."""

from pydantic import BaseModel


class RoleOut(BaseModel):
    role: str
    axis: int | None = None
    consultation: int | None = None
    commune: str | None = None


class MeOut(BaseModel):
    id: int
    display_name: str
    commune_insee: str | None
    verification_level: str
    roles: list[RoleOut]


class ResidentOut(BaseModel):
    id: int
    display_name: str
    commune_insee: str | None
    verification_level: str
