"""Load the territory files shipped in territory/data into the database.

Idempotent: a second run finds every row already as the files say and changes nothing.
Territory rows follow the files; axes are only added when missing, because an admin may
have edited them since (they are editable reference data)."""

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import Session, SQLModel, select

from app.territory.models import Axis, Commune, CommunePostalCode, Epci
from app.territory.search import fold

DATA_DIR = Path(__file__).parent / "data"


@dataclass
class LoadReport:
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str, table: str) -> None:
        target = self.created if kind == "created" else self.updated
        target[table] = target.get(table, 0) + 1

    @property
    def changed(self) -> int:
        return sum(self.created.values()) + sum(self.updated.values())


def _rows(name: str) -> Iterator[dict[str, str]]:
    with (DATA_DIR / name).open(newline="", encoding="utf-8") as handle:
        yield from csv.DictReader(handle)


def _split(cell: str) -> list[str]:
    return [part for part in cell.split("|") if part]


def _upsert(session: Session, report: LoadReport, model: type[SQLModel], key: Any, values: dict[str, Any]) -> None:
    row = session.get(model, key)
    table = str(model.__tablename__)
    if row is None:
        session.add(model(**values))
        report.count("created", table)
        return
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    if changed:
        report.count("updated", table)


def load_territory(session: Session) -> LoadReport:
    """Upsert the EPCIs, communes and postal codes of the territory; flushes, never commits."""
    report = LoadReport()
    for row in _rows("epci.csv"):
        values = {
            "siren": row["siren"], "name": row["name"], "short_name": row["short_name"],
            "departements": row["departements"], "population": int(row["population"]), "is_signatory": True,
        }
        _upsert(session, report, Epci, row["siren"], values)
    for row in _rows("other_epci.csv"):
        values = {
            "siren": row["siren"], "name": row["name"], "short_name": None,
            "departements": row["departements"], "population": int(row["population"]), "is_signatory": False,
        }
        _upsert(session, report, Epci, row["siren"], values)
    session.flush()

    postal_codes: dict[str, list[str]] = {}
    for row in _rows("communes.csv"):
        postal_codes[row["insee_code"]] = _split(row["postal_codes"])
        _upsert(session, report, Commune, row["insee_code"], {
            "insee_code": row["insee_code"], "name": row["name"], "search_name": fold(row["name"]),
            "departement": row["departement"], "population": int(row["population"]),
            "epci_siren": row["epci_siren"], "is_in_perimeter": row["in_erbm_perimeter"] == "true",
        })
    extra_codes = {row["insee_code"]: _split(row["postal_codes"]) for row in _rows("mbm_postal_codes.csv")}
    for row in _rows("bassin_minier_mbm_communes.csv"):
        if row["insee_code"] in postal_codes:
            continue  # a member of a signatory EPCI, already loaded with its postal codes
        postal_codes[row["insee_code"]] = extra_codes[row["insee_code"]]
        _upsert(session, report, Commune, row["insee_code"], {
            "insee_code": row["insee_code"], "name": row["name"], "search_name": fold(row["name"]),
            "departement": row["departement"], "population": int(row["population"]),
            "epci_siren": row["epci_siren"], "is_in_perimeter": True,
        })
    session.flush()
    _sync_postal_codes(session, report, postal_codes)
    return report


def _sync_postal_codes(session: Session, report: LoadReport, wanted: dict[str, list[str]]) -> None:
    existing: dict[str, set[str]] = {}
    for link in session.exec(select(CommunePostalCode)):
        existing.setdefault(link.insee_code, set()).add(link.postal_code)
    for insee_code, codes in wanted.items():
        have = existing.get(insee_code, set())
        for code in sorted(set(codes) - have):
            session.add(CommunePostalCode(insee_code=insee_code, postal_code=code))
            report.count("created", "commune_postal_code")
        for code in sorted(have - set(codes)):
            link = session.get(CommunePostalCode, (insee_code, code))
            session.delete(link)
            report.count("updated", "commune_postal_code")
    session.flush()


def load_axes(session: Session) -> LoadReport:
    """Add the axes that are missing; an axis already there keeps what an admin wrote."""
    report = LoadReport()
    known = set(session.exec(select(Axis.number)))
    for row in _rows("axes.csv"):
        number = int(row["number"])
        if number in known:
            continue
        session.add(Axis(number=number, slug=row["slug"], title=row["title_fr"], description=row["description_fr"]))
        report.count("created", "axis")
    session.flush()
    return report
