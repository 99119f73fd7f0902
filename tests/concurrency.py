"""Machinery shared by the concurrency tests: a fresh database per test module (committed data,
outside the shared, rolled-back one, or the other threads would not see it), migrated and seeded,
on a real engine; the application on that engine, every request with its own session; a bearer
token for a resident."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import Session

from app.accounts import service as accounts
from app.accounts.models import User
from app.core.db import make_engine, session_factory
from app.core.settings import Settings
from app.main import create_app
from app.territory.seed import load_axes, load_territory
from tests.factories import NOW
from tests.support import create_database, database_name, drop_database, migrate, postgres_base_url, worker_id

SECRET = "x" * 40


@contextmanager
def fresh_database(kind: str, tmp_path_factory: pytest.TempPathFactory, label: str) -> Iterator[str]:
    """The URL of a new, empty database of the given kind ("sqlite" or "postgresql"), dropped after."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp(label) / f'{label}.db'}"
        return
    base_url = postgres_base_url()
    name = database_name(base_url, f"{worker_id()}_{label}")
    url = create_database(base_url, name)
    try:
        yield url
    finally:
        drop_database(base_url, name)


@contextmanager
def seeded_engine(database_url: str, *, pool_size: int, pool_timeout: int) -> Iterator[Engine]:
    """An engine on the database, migrated, with the territory and the axes loaded and committed."""
    engine = make_engine(database_url, pool_size=pool_size, max_overflow=0, pool_timeout=pool_timeout)
    try:
        migrate(engine)
        with Session(engine) as session:
            load_territory(session)
            load_axes(session)
            session.commit()
        yield engine
    finally:
        engine.dispose()


def app_on(engine: Engine, database_url: str, tmp_path: Path) -> FastAPI:
    """The application on this engine's database, every request with its own session, at NOW."""
    app = create_app(Settings(_env_file=None, var_dir=tmp_path / "var", database_url=database_url,
                              secret_key=SECRET))
    app.state.engine.dispose()
    app.state.engine = engine
    app.state.session_factory = session_factory(engine)
    app.state.clock = lambda: NOW
    return app


def bearer_for(engine: Engine, voter_id: int) -> dict[str, str]:
    """An Authorization header with a new access token of this user, committed."""
    with Session(engine) as session:
        user = session.get(User, voter_id)
        assert user is not None
        _token, raw = accounts.create_access_token(session, user, name="race", now=NOW)
        session.commit()
    return {"Authorization": f"Bearer {raw}"}
