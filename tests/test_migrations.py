"""The migrations, run on empty databases of both kinds: up, down, up again, and no drift from the models."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from app.cli import alembic_config
from app.core.db import make_engine
from app.models import include_object, is_full_text_search_object, metadata
from tests.support import (
    create_database,
    database_name,
    drop_database,
    migrate,
    postgres_base_url,
    worker_id,
)

# Every table the models declare: a model without its migration fails here.
TABLES = set(metadata.tables)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a new, empty database (not the shared, migrated one)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()
        return
    base_url = postgres_base_url()
    name = database_name(base_url, f"{worker_id()}_migrations")
    engine = make_engine(create_database(base_url, name))
    try:
        yield engine
    finally:
        engine.dispose()
        drop_database(base_url, name)


def tables(engine: Engine) -> set[str]:
    """The tables of the models (full-text search tables are checked in tests/proposals)."""
    return {name for name in inspect(engine).get_table_names() if not is_full_text_search_object(name)}


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def drift(engine: Engine) -> list:  # type: ignore[type-arg]
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": include_object}
        )
        return compare_metadata(context, metadata)


def test_one_head() -> None:
    assert len(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()) == 1


def test_upgrade_downgrade_upgrade(empty_engine: Engine) -> None:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert tables(empty_engine) == set()

    migrate(empty_engine)
    assert tables(empty_engine) == TABLES | {"alembic_version"}
    assert current_revision(empty_engine) == head
    assert drift(empty_engine) == []

    migrate(empty_engine, "base", down=True)
    assert tables(empty_engine) == {"alembic_version"}
    assert current_revision(empty_engine) is None

    migrate(empty_engine)
    assert tables(empty_engine) == TABLES | {"alembic_version"}
    assert current_revision(empty_engine) == head
    assert drift(empty_engine) == []


def test_models_need_no_new_migration(engine: Engine) -> None:
    """The shared database, migrated by the fixture, matches the models too."""
    assert drift(engine) == []
