"""The `carreau` command, on a temporary SQLite database."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, inspect
from sqlmodel import Session, select

from app.cli import cli
from app.core.db import make_engine
from app.core.settings import get_settings
from app.territory.models import Axis, Commune, Epci
from tests.support import cli_database, invoke, logging_kept, runner

NOTHING = "created nothing; updated nothing."


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    with logging_kept():
        yield


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    with cli_database(tmp_path, monkeypatch) as path:
        yield path


def counts(path: Path) -> dict[str, int]:
    engine = make_engine(f"sqlite:///{path}")
    with Session(engine) as session:
        found = {
            model.__tablename__: session.exec(select(func.count()).select_from(model)).one()
            for model in (Epci, Commune, Axis)
        }
    engine.dispose()
    return found


def test_help() -> None:
    output = invoke("--help")
    for command in ("db", "seed", "serve"):
        assert command in output


def test_settings_come_from_the_environment(database: Path) -> None:
    assert get_settings().database_url == f"sqlite:///{database}"


def test_db_upgrade_then_downgrade(database: Path) -> None:
    invoke("db", "upgrade")
    engine = make_engine(f"sqlite:///{database}")
    assert {"axis", "epci", "commune", "commune_postal_code"} <= set(inspect(engine).get_table_names())
    invoke("db", "downgrade", "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    engine.dispose()


def test_seed_territory_twice(database: Path) -> None:
    invoke("db", "upgrade")
    first = invoke("seed", "territory")
    assert "Territory: created 362 commune, 362 commune_postal_code, 13 epci; updated nothing." in first
    assert "Axes: created 16 axis; updated nothing." in first
    second = invoke("seed", "territory")
    assert second.splitlines() == [f"Territory: {NOTHING}", f"Axes: {NOTHING}"]
    assert counts(database) == {"epci": 13, "commune": 362, "axis": 16}


def test_seed_demo(database: Path) -> None:
    invoke("db", "upgrade")
    output = invoke("seed", "demo")
    assert "Territory: created" in output
    assert counts(database) == {"epci": 13, "commune": 362, "axis": 16}
    assert NOTHING in invoke("seed", "demo")


def test_seed_without_migrations_fails(database: Path) -> None:
    result = runner.invoke(cli, ["seed", "territory"])
    assert result.exit_code != 0


def test_results_close_fixes_ended_votes_once(database: Path) -> None:
    invoke("db", "upgrade")
    invoke("seed", "demo")  # one demo consultation is past its vote
    assert "Results fixed for consultation" in invoke("results", "close")
    assert "No ended vote without its results." in invoke("results", "close")
