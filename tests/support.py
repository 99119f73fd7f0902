"""Helpers shared by the test suite."""

import html
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import psycopg
import pytest
import redis
from alembic import command
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from psycopg import sql
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session
from typer.testing import CliRunner

from app.accounts import passwords
from app.accounts import service as accounts
from app.accounts.models import User
from app.cli import alembic_config, cli
from app.core.db import get_session
from app.core.errors import PROBLEM_JSON
from app.core.settings import Settings, get_settings
from tests.participation import csrf

IN_CI = os.environ.get("CI") == "true"

POSTGRES_SKIPPED = "PostgreSQL tests skipped"
POSTGRES_HOW_TO = "Set TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test to run them"


def unavailable(reason: str, how_to_enable: str) -> NoReturn:
    """Skip on a laptop, fail in CI: CI must run every part of the suite."""
    if IN_CI:
        pytest.fail(f"{reason}; CI requires it. {how_to_enable}", pytrace=False)
    pytest.skip(f"{reason}. {how_to_enable}")


def postgres_base_url() -> str:
    """TEST_DATABASE_URL, or a skip (a failure in CI) saying how to set it."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url:
        unavailable(POSTGRES_SKIPPED, POSTGRES_HOW_TO)
    return url


def _admin_connection(base_url: str) -> psycopg.Connection:
    """An autocommit connection to the base database (or, if it does not exist, to `postgres`)."""
    parsed = make_url(base_url).set(drivername="postgresql")
    conninfo = parsed.render_as_string(hide_password=False)
    try:
        return psycopg.connect(conninfo, autocommit=True)
    except psycopg.OperationalError:
        fallback = parsed.set(database="postgres").render_as_string(hide_password=False)
        return psycopg.connect(fallback, autocommit=True)


def worker_id() -> str:
    """'gw0', 'gw1'… under pytest-xdist, 'master' otherwise (as xdist's own worker_id fixture)."""
    return os.environ.get("PYTEST_XDIST_WORKER", "master")


def database_name(base_url: str, suffix: str) -> str:
    """'test' + 'gw0' gives 'carreau_test_gw0': one database per xdist worker."""
    base = make_url(base_url).database or "postgres"
    name = base if base.startswith("carreau") else f"carreau_{base}"
    return re.sub(r"[^a-z0-9_]", "_", f"{name}_{suffix}".lower())[:63]


def create_database(base_url: str, name: str) -> str:
    """Drop `name` if a previous run left it, create it empty and return its URL."""
    with _admin_connection(base_url) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


def drop_database(base_url: str, name: str) -> None:
    with _admin_connection(base_url) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def migrate(engine: Engine, revision: str = "head", *, down: bool = False) -> None:
    """Run Alembic on `engine`'s database, on a connection of ours (no logging reconfiguration)."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    config.attributes["configure_logger"] = False
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        if down:
            command.downgrade(config, revision)
        else:
            command.upgrade(config, revision)


@contextmanager
def isolated_session(engine: Engine) -> Iterator[Session]:
    """A session inside an outer transaction that is always rolled back: commits by the code under
    test only release a SAVEPOINT, so nothing a test writes survives it."""
    connection = engine.connect()
    transaction = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield session
    finally:
        session.close()
        transaction.rollback()
        connection.close()


def use_session(app: FastAPI, session: Session) -> None:
    """Every database access of `app` (routes and anything using its session factory) goes
    through the test's session, which the app must not close."""

    def _session() -> Iterator[Session]:
        yield session

    app.dependency_overrides[get_session] = _session
    app.state.session_factory = lambda **_options: nullcontext(session)


# Reading HTML answers: assert on behaviour and stable text, not on markup.

FOOTER_LINKS = ("/mentions-legales", "/donnees-personnelles", "/accessibilite")


def page_text(response: Response) -> str:
    """The HTML with its entities decoded, so titles with apostrophes can be searched for."""
    return html.unescape(response.text)


def assert_page(response: Response, status: int = 200, *, locale: str = "fr") -> str:
    """A whole HTML page, in `locale`, whose footer links to the three pages every site must have."""
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    text = page_text(response)
    assert "<html" in text
    assert f'lang="{locale}"' in text
    for path in FOOTER_LINKS:
        assert f'href="{path}"' in text, f"no link to {path}"
    return text


def assert_fragment(response: Response, status: int = 200) -> str:
    """Only a fragment for htmx, and a Vary header so that caches keep it apart from the page."""
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert "HX-Request" in response.headers["vary"]
    text = page_text(response)
    assert "<html" not in text
    assert "<body" not in text
    return text


# --- residents who sign in with their password (accounts, CSRF and rate-limit tests)

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
PASSWORD = "une phrase de passe assez longue"


def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at its real cost takes ~85 ms a hash: a cheap one for tests that are not about hashing."""
    monkeypatch.setattr(passwords, "_hasher", PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024,
                                                                         parallelism=1),)))


def make_resident(session: Session, email: str, name: str = "Alice Martin", *, password: str = PASSWORD) -> User:
    """A confirmed, onboarded resident of Liévin who can sign in with `password`, committed."""
    user = accounts.create_user(session, display_name=name, email=email, password=password, is_email_confirmed=True,
                                commune_insee="62510", now=T0)
    accounts.complete_onboarding(session, user, commune_insee="62510", birth_year=None, accepts_terms=True,
                                 terms_version=Settings.model_fields["terms_version"].default, now=T0)
    session.commit()
    return user


def sign_in_with_password(client: TestClient, email: str, password: str = PASSWORD) -> None:
    """Sign in through the sign-in form, as a browser would."""
    response = client.post("/connexion", data={"email": email, "password": password, "csrf_token": csrf(client)},
                           follow_redirects=False)
    assert response.status_code == 303, response.text[:500]


def problem(response: Response, status: int, kind: str = "about:blank") -> dict[str, Any]:
    """The body of an API error answer (RFC 9457), after checking its status, type and detail."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    data = response.json()
    assert (data["status"], data["type"]) == (status, kind)
    assert data["detail"]
    return data


# --- the `carreau` command, on a temporary SQLite database

runner = CliRunner()


@contextmanager
def logging_kept() -> Iterator[None]:
    """migrations/env.py configures logging from alembic.ini; undo it on the way out."""
    names = ["", "alembic", "sqlalchemy", "sqlalchemy.engine"]
    saved = {name: (logging.getLogger(name).level, list(logging.getLogger(name).handlers)) for name in names}
    yield
    for name, (level, handlers) in saved.items():
        logger = logging.getLogger(name)
        for handler in logger.handlers:
            if handler not in handlers:
                handler.close()
        logger.setLevel(level)
        logger.handlers[:] = handlers


@contextmanager
def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The command's settings pointed at tmp_path/var and a SQLite database there (not created)."""
    path = tmp_path / "var" / "carreau.db"
    monkeypatch.setenv("CARREAU_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CARREAU_DATABASE_URL", f"sqlite:///{path}")
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


def invoke(*args: str) -> str:
    """Run the command, which must succeed, and return its output."""
    result = runner.invoke(cli, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


# --- Redis and SQL statements

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def redis_client() -> redis.Redis:
    """A client of the test Redis database, or a skip (a failure in CI) when none answers."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=2)
    try:
        client.ping()
    except redis.exceptions.RedisError:
        client.close()
        unavailable(f"Redis tests skipped: no Redis at {REDIS_URL}",
                    "Start Redis on 127.0.0.1:6379 or set TEST_REDIS_URL")
    return client


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements run on `engine` inside the block, as a list filled as they run."""
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)
