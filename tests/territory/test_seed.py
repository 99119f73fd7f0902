from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from app.territory.models import Axis, Commune, CommunePostalCode, Epci
from app.territory.seed import LoadReport, load_axes, load_territory


def count(session: Session, model: type, *where: object) -> int:
    query = select(func.count()).select_from(model)
    for condition in where:
        query = query.where(condition)  # type: ignore[arg-type]
    return session.exec(query).one()


def row_counts(session: Session) -> dict[str, int]:
    return {model.__tablename__: count(session, model) for model in (Epci, Commune, CommunePostalCode, Axis)}


def signatory_sirens(session: Session) -> list[str]:
    return list(session.exec(select(Epci.siren).where(col(Epci.is_signatory))))


def test_counts_after_load(session: Session) -> None:
    assert row_counts(session) == {"epci": 13, "commune": 362, "commune_postal_code": 362, "axis": 16}
    assert count(session, Epci, col(Epci.is_signatory)) == 8
    sirens = signatory_sirens(session)
    assert count(session, Commune, col(Commune.epci_siren).in_(sirens)) == 336
    assert count(session, Commune, col(Commune.epci_siren).not_in(sirens)) == 26


def test_perimeter_flags(session: Session) -> None:
    sirens = signatory_sirens(session)
    outside = session.exec(select(Commune).where(col(Commune.epci_siren).not_in(sirens))).all()
    assert len(outside) == 26
    assert all(commune.is_in_perimeter for commune in outside)
    # Communes of the signatory EPCIs keep the flag of communes.csv.
    assert count(session, Commune, col(Commune.epci_siren).in_(sirens), col(Commune.is_in_perimeter)) == 224
    assert count(session, Commune, col(Commune.is_in_perimeter)) == 250


def test_loaded_values(session: Session) -> None:
    lievin = session.get(Commune, "62510")
    assert lievin is not None
    assert (lievin.name, lievin.search_name, lievin.departement) == ("Liévin", "lievin", "62")
    assert lievin.epci_siren == "246200364"
    assert [link.postal_code for link in lievin.postal_codes] == ["62800"]
    bethune = session.get(Epci, "200072460")
    assert bethune is not None
    assert bethune.short_name == "Béthune-Bruay"
    assert bethune.is_signatory
    arras = session.get(Epci, "200033579")
    assert arras is not None
    assert (arras.short_name, arras.is_signatory) == (None, False)
    numbers = list(session.exec(select(Axis.number).order_by(col(Axis.number))))
    assert numbers == list(range(1, 17))


def test_first_load_reports_what_it_created(session: Session) -> None:
    for model in (CommunePostalCode, Commune, Epci, Axis):
        session.exec(delete(model))  # type: ignore[call-overload]
    territory = load_territory(session)
    axes = load_axes(session)
    assert territory.created == {"epci": 13, "commune": 362, "commune_postal_code": 362}
    assert territory.updated == {}
    assert axes.created == {"axis": 16}
    assert row_counts(session) == {"epci": 13, "commune": 362, "commune_postal_code": 362, "axis": 16}


def test_loading_twice_changes_nothing(session: Session) -> None:
    before = row_counts(session)
    territory = load_territory(session)
    axes = load_axes(session)
    session.commit()
    assert territory.changed == 0
    assert axes.changed == 0
    assert row_counts(session) == before


def test_reseed_keeps_an_axis_edited_by_an_admin(session: Session) -> None:
    axis = session.exec(select(Axis).where(Axis.number == 3)).one()
    axis.title = "Un titre choisi par l’administration"
    axis.description = "Une description réécrite."
    session.add(axis)
    session.commit()
    assert load_axes(session).changed == 0
    session.commit()
    session.expire_all()
    axis = session.exec(select(Axis).where(Axis.number == 3)).one()
    assert axis.title == "Un titre choisi par l’administration"
    assert axis.description == "Une description réécrite."


def test_reseed_adds_a_missing_axis(session: Session) -> None:
    session.exec(delete(Axis).where(col(Axis.number) == 16))  # type: ignore[call-overload]
    report = load_axes(session)
    assert report.created == {"axis": 1}
    assert count(session, Axis) == 16


def test_reseed_puts_back_the_territory_files(session: Session) -> None:
    lievin = session.get(Commune, "62510")
    assert lievin is not None
    lievin.population = 1
    lievin.name = "Lievin"
    session.add(lievin)
    session.add(CommunePostalCode(insee_code="62510", postal_code="62999"))
    session.exec(delete(CommunePostalCode).where(col(CommunePostalCode.insee_code) == "62498"))  # type: ignore[call-overload]
    session.commit()

    report = load_territory(session)
    session.commit()
    assert report.updated == {"commune": 1, "commune_postal_code": 1}
    assert report.created == {"commune_postal_code": 1}
    session.expire_all()
    lievin = session.get(Commune, "62510")
    assert lievin is not None
    assert (lievin.population, lievin.name) == (30063, "Liévin")
    assert [link.postal_code for link in lievin.postal_codes] == ["62800"]
    lens = session.get(Commune, "62498")
    assert lens is not None
    assert [link.postal_code for link in lens.postal_codes] == ["62300"]


def test_report_counts() -> None:
    report = LoadReport()
    report.count("created", "axis")
    report.count("created", "axis")
    report.count("updated", "epci")
    assert report.created == {"axis": 2}
    assert report.updated == {"epci": 1}
    assert report.changed == 3
