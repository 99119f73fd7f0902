"""Fixtures: every database test runs on SQLite and on PostgreSQL.

The database of each xdist worker is migrated and seeded once; each test works in a transaction
that is rolled back, so tests never see each other's writes."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from app.core.db import make_engine
from app.core.i18n import compile_catalogs
from app.core.settings import Settings
from app.main import create_app
from app.territory.seed import load_axes, load_territory
from tests.support import (
    create_database,
    database_name,
    drop_database,
    isolated_session,
    migrate,
    postgres_base_url,
    use_session,
    worker_id,
)

SECRET = "x" * 40
TESTS_DIR = Path(__file__).parent


def pytest_configure(config: pytest.Config) -> None:
    # Compile the catalogues once, before the xdist workers start: workers then find them up to
    # date and never write a .mo file another worker is reading.
    if not hasattr(config, "workerinput"):
        compile_catalogs()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """A skip raised by a fixture is reported where it was raised, not at each test, so that `-ra`
    folds the hundreds of PostgreSQL skips into one line."""
    report: pytest.TestReport = yield
    excinfo = call.excinfo
    if report.skipped and call.when == "setup" and excinfo and isinstance(report.longrepr, tuple):
        entry = excinfo.traceback.filter(excinfo)[-1]
        if Path(entry.path).is_relative_to(TESTS_DIR):  # not a skip marker, which pytest places well
            report.longrepr = (str(entry.path), entry.lineno + 1, report.longrepr[2])
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per kind of skip ("PostgreSQL tests skipped: set TEST_DATABASE_URL=…")."""
    counts: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reason = reason.removeprefix("Skipped: ")
        prefix, _, how = reason.partition(". ")
        line = f"{prefix}: {how[:1].lower()}{how[1:]}" if how else prefix
        counts[line] = counts.get(line, 0) + 1
    for line, count in counts.items():
        terminalreporter.write_line(f"{line} ({count} tests)", yellow=True)


@pytest.fixture(autouse=True)
def _no_carreau_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's exported CARREAU_* variables must not change what the tests see."""
    for name in list(os.environ):
        if name.startswith("CARREAU_"):
            monkeypatch.delenv(name)
    # Tests read pages right after changing things: the few seconds of the public page cache would
    # show them the page before. The cache has its own tests (tests/core/test_pagecache.py).
    monkeypatch.setenv("CARREAU_PAGE_CACHE_SECONDS", "0")


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'carreau.db'}"
        return
    base_url = postgres_base_url()
    name = database_name(base_url, worker_id())
    url = create_database(base_url, name)
    yield url
    drop_database(base_url, name)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """The worker's database: migrated to head, with the territory and the axes."""
    engine = make_engine(database_url)
    try:
        migrate(engine)
        with Session(engine) as session:
            load_territory(session)
            load_axes(session)
            session.commit()
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with isolated_session(engine) as session:
        yield session


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(_env_file=None, var_dir=tmp_path / "var", database_url=database_url, secret_key=SECRET)


@pytest.fixture
def app(settings: Settings, session: Session) -> Iterator[FastAPI]:
    """The application, whose requests all use the test's session."""
    app = create_app(settings)
    use_session(app, session)
    yield app
    app.state.engine.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


class SmtpServer:
    """A real SMTP server on 127.0.0.1 (aiosmtpd, no TLS) that keeps what it receives, parsed with
    the modern email policy: headers are decoded and get_content() undoes quoted-printable."""

    host = "127.0.0.1"

    def __init__(self) -> None:
        self.port = 0
        self.messages: list = []  # email.message.EmailMessage

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd calls its handler's handle_DATA
        from email import message_from_bytes, policy

        content = envelope.content.replace(b"\r\n", b"\n")  # the wire's CRLF, as Python text has it
        self.messages.append(message_from_bytes(content, policy=policy.default))
        return "250 Message accepted for delivery"

    @property
    def settings(self) -> dict[str, object]:
        """What Settings need to send their mail here: settings.model_copy(update=server.settings)."""
        return {"smtp_host": self.host, "smtp_port": self.port, "smtp_starttls": False, "smtp_ssl": False}

    def pop(self):  # -> email.message.EmailMessage
        """The one message received since the last pop (fails if there are none or several)."""
        assert len(self.messages) == 1, f"expected one mail, got {len(self.messages)}"
        return self.messages.pop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """`smtp_server.messages` collects every mail sent to it during the test."""
    import socket

    from aiosmtpd.controller import Controller

    server = SmtpServer()
    for attempt in range(3):  # another process may take the free port before we bind it
        with socket.socket() as probe:
            probe.bind((server.host, 0))
            server.port = probe.getsockname()[1]
        controller = Controller(server, hostname=server.host, port=server.port, ready_timeout=5)
        try:
            controller.start()
            break
        except OSError:
            if attempt == 2:
                raise
    try:
        yield server
    finally:
        controller.stop()
