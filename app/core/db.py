"""Engine, per-request session and the metadata naming convention shared by models and migrations."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Protocol
from weakref import WeakKeyDictionary

from fastapi import Depends, Request
from sqlalchemy import DateTime, Engine, TypeDecorator, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session, SQLModel

# Named constraints let autogenerate and hand-written migrations agree, and let SQLite batch
# migrations drop them.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_BUSY_TIMEOUT_MS = 5000


class UtcDateTime(TypeDecorator[datetime]):
    """A moment in UTC, aware on the way in and out on every database (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Build an engine; on SQLite turn on WAL, foreign keys and a busy timeout on every connection."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        else:  # an in-memory database has a connection per thread, no pool to size
            kwargs = {key: value for key, value in kwargs.items() if key not in ("pool_size", "max_overflow")}
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return create_engine(url, pool_pre_ping=True, **kwargs)


def keep_loaded(session: Session, *objects: object) -> None:
    """Keep objects alive for the rest of the session. Its identity map holds them weakly: an object
    loaded early (a person's commune with the person) and referenced by nobody would be gone, and a
    later `session.get` would query it again."""
    session.info.setdefault("kept", []).extend(item for item in objects if item is not None)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy, not the driver, begins transactions (see _sqlite_begin): SAVEPOINTs then work.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    # FULL: in WAL mode NORMAL may lose the last commits (acknowledged votes) on a power cut.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    """Writing transactions take SQLite's write lock at BEGIN (IMMEDIATE): two writers then queue
    (busy timeout) instead of failing when one finds its snapshot outdated by the other."""
    immediate = connection.get_execution_options().get("sqlite_immediate", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class SessionFactory(Protocol):
    def __call__(self, *, write: bool = False) -> AbstractContextManager[Session]: ...


def session_factory(engine: Engine) -> SessionFactory:
    """What opens database sessions for the app (requests, middleware); tests replace it."""
    writer = engine.execution_options(sqlite_immediate=True)

    def open_session(*, write: bool = False) -> Session:
        # Objects stay readable after the one commit of a request, without a new query.
        session = Session(writer if write else engine, expire_on_commit=False)
        if write:
            # Only the first transaction needs the write lock up front; whatever the request
            # reads after its commit must not hold that lock while the response goes out.
            event.listen(session, "after_transaction_end", _read_only_afterwards)
        return session

    def _read_only_afterwards(session: Session, transaction: SessionTransaction) -> None:
        # Only when the outermost transaction ends: a SAVEPOINT released or rolled back mid-way
        # (after_commit fires for those too) must not move the rest of the transaction to a
        # second connection, which would not see what the first one wrote.
        if transaction.parent is None:
            session.bind = engine

    return open_session


UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class SqliteWriters:
    """On SQLite, the writing requests of one process take turns before asking the database for
    its write lock. SQLite's busy handler is no queue: waiting writers sleep and retry, so with
    dozens at once some waited past the busy timeout and failed ("database is locked": 500s under
    the benchmark's 32 connections, BENCHMARKS.md). With one writer per process at a time, only
    the processes compete for the lock. Requests wait for their turn in the event loop, not in the
    thread pool (threads blocked there would leave none for the request holding the turn)."""

    def __init__(self) -> None:
        # One lock per event loop: a worker has one; tests may run several clients, each its own.
        self.locks: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = WeakKeyDictionary()

    def lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        found = self.locks.get(loop)
        if found is None:
            found = self.locks[loop] = asyncio.Lock()
        return found


async def write_turn(request: Request) -> AsyncIterator[None]:
    writers: SqliteWriters | None = getattr(request.app.state, "sqlite_writers", None)
    if writers is None or request.method not in UNSAFE_METHODS:
        yield
        return
    async with writers.lock():
        yield


def get_session(request: Request, _turn: Annotated[None, Depends(write_turn, scope="function")]) -> Iterator[Session]:
    """One session per request; the route that writes commits once. Requests that may write
    open a writing transaction from the start (on SQLite, in their turn: SqliteWriters)."""
    with request.app.state.session_factory(write=request.method in UNSAFE_METHODS) as session:
        yield session


# scope="function": the session closes when the route returns, before the response goes out, so no
# transaction (nor SQLite's write lock) outlives the route while middleware finishes the answer.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
