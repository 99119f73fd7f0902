from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.core.db import SQLITE_BUSY_TIMEOUT_MS, make_engine
from app.territory.models import Axis, Commune, CommunePostalCode
from tests.support import isolated_session


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'carreau.db'}")
    yield engine
    engine.dispose()


def test_sqlite_creates_the_directory_and_sets_its_pragmas(sqlite_engine: Engine, tmp_path: Path) -> None:
    with sqlite_engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == SQLITE_BUSY_TIMEOUT_MS == 5000
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL (durable on a power cut)
    assert (tmp_path / "nested" / "dir" / "carreau.db").exists()


def test_postgresql_urls_use_psycopg() -> None:
    engine = make_engine("postgresql://carreau@db.example/carreau")
    assert engine.url.drivername == "postgresql+psycopg"
    engine.dispose()


def test_foreign_key_violation_is_refused(session: Session) -> None:
    session.add(
        Commune(
            insee_code="99999", name="Nulle part", search_name="nulle part", departement="99",
            population=0, epci_siren="000000000",
        )
    )
    with pytest.raises(IntegrityError):
        session.flush()


def test_deleting_a_commune_deletes_its_postal_codes(session: Session) -> None:
    session.execute(text("DELETE FROM commune WHERE insee_code = '62510'"))
    links = session.exec(select(CommunePostalCode).where(CommunePostalCode.insee_code == "62510")).all()
    assert links == []


def test_check_constraint_on_axis_number(session: Session) -> None:
    session.add(Axis(number=17, slug="de-trop", title="De trop", description="Un axe de trop."))
    with pytest.raises(IntegrityError):
        session.flush()


def test_a_test_session_really_is_rolled_back(engine: Engine) -> None:
    """What the code under test commits inside the test session is gone afterwards."""
    with isolated_session(engine) as session:
        axis = session.exec(select(Axis).where(Axis.number == 1)).one()
        axis.title = "Titre modifié par un test"
        session.commit()  # releases the SAVEPOINT only
        session.execute(text("DELETE FROM commune_postal_code"))
        session.commit()
        assert session.exec(select(Axis.title).where(Axis.number == 1)).one() == "Titre modifié par un test"
        assert session.exec(select(func.count()).select_from(text("commune_postal_code"))).one() == 0
    with Session(engine) as fresh:
        assert fresh.exec(select(Axis.title).where(Axis.number == 1)).one() != "Titre modifié par un test"
        assert fresh.exec(select(func.count()).select_from(text("commune_postal_code"))).one() == 362


def test_sqlite_writers_take_turns_in_the_event_loop() -> None:
    """Writing requests of one process enter one at a time (SQLite's busy handler is no queue);
    reading requests and other databases do not wait."""
    import asyncio
    from types import SimpleNamespace

    from app.core.db import SqliteWriters, write_turn

    def request(method: str, writers: SqliteWriters | None) -> Any:
        return SimpleNamespace(method=method, app=SimpleNamespace(state=SimpleNamespace(sqlite_writers=writers)))

    async def scenario() -> list[str]:
        writers = SqliteWriters()
        events: list[str] = []

        async def writer(name: str) -> None:
            turn = write_turn(request("PUT", writers))
            await turn.__anext__()
            events.append(f"{name} in")
            await asyncio.sleep(0.02)
            events.append(f"{name} out")
            await turn.aclose()

        async def reader() -> None:
            turn = write_turn(request("GET", writers))
            await turn.__anext__()
            events.append("reader")
            await turn.aclose()

        await asyncio.gather(writer("a"), writer("b"), reader())
        return events

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:  # a loop of its own, as in tests/core/test_pagecache.py
        events = pool.submit(lambda: asyncio.run(scenario())).result()
    assert events.index("a out") < events.index("b in")
    assert events.index("reader") < events.index("a out")  # a reader never waits for a writer's turn
