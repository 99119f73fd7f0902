"""Every table model, imported so that SQLModel.metadata is complete (Alembic, tests)."""

from sqlmodel import SQLModel

from app.territory.models import Axis, Commune, CommunePostalCode, Epci

metadata = SQLModel.metadata

__all__ = ["Axis", "Commune", "CommunePostalCode", "Epci", "metadata"]
