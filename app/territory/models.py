"""Reference data of the territory: EPCI, communes with their postal codes, and the 16 axes."""

from sqlalchemy import CheckConstraint, Column, ForeignKey, String, Text
from sqlmodel import Field, Relationship, SQLModel


class Epci(SQLModel, table=True):
    """An intercommunalité. The 8 signatories of the Engagement have `is_signatory`; the others
    are stored because some of their communes lie inside the bassin minier."""

    __tablename__ = "epci"

    siren: str = Field(primary_key=True, max_length=9)
    name: str = Field(max_length=200)
    short_name: str | None = Field(default=None, max_length=80)
    departements: str = Field(max_length=20)  # "59" or "62|80"
    population: int | None = Field(default=None, ge=0)
    is_signatory: bool = Field(default=False, index=True)


class Commune(SQLModel, table=True):
    """A commune of the territory (the union of the signatory EPCIs and the MBM contour)."""

    __tablename__ = "commune"

    insee_code: str = Field(primary_key=True, max_length=5)
    name: str = Field(max_length=120)
    # Lower case, accents and punctuation folded: "Liévin" and "lievin" meet here.
    search_name: str = Field(max_length=120, index=True)
    departement: str = Field(max_length=3)
    population: int = Field(ge=0)
    epci_siren: str = Field(foreign_key="epci.siren", index=True, max_length=9)
    # Inside the Mission Bassin Minier's contour (see territory/data/SOURCES.md).
    is_in_perimeter: bool = Field(default=False)

    postal_codes: list["CommunePostalCode"] = Relationship(
        sa_relationship_kwargs={"order_by": "CommunePostalCode.postal_code", "cascade": "all, delete-orphan"}
    )


class CommunePostalCode(SQLModel, table=True):
    __tablename__ = "commune_postal_code"

    insee_code: str = Field(
        sa_column=Column(
            String(5), ForeignKey("commune.insee_code", ondelete="CASCADE"), primary_key=True
        )
    )
    postal_code: str = Field(primary_key=True, max_length=5, index=True)


class Axis(SQLModel, table=True):
    """One of the 16 priority axes; every consultation belongs to one."""

    __tablename__ = "axis"
    __table_args__ = (CheckConstraint("number BETWEEN 1 AND 16", name="number_range"),)

    id: int | None = Field(default=None, primary_key=True)
    number: int = Field(unique=True)
    slug: str = Field(max_length=80, unique=True)
    title: str = Field(max_length=300)
    description: str = Field(sa_column=Column(Text, nullable=False))
