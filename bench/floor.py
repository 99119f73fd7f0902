"""The floor of the stack for a vote: how fast can FastAPI on uvicorn record a vote at all?

Two minimal applications, served by bench/run with exactly Carreau's server settings and driven by
the same wrk script as `PUT …/support` (same URL, a bearer header, many residents at once). Each
answers with one `INSERT … ON CONFLICT DO NOTHING` into a scratch table and its commit, and nothing
else: no authentication, no rule, no counter.

- `sync_app`: a plain `def` route (run in the thread pool) and SQLAlchemy Core, as Carreau's routes;
- `async_app`: an `async def` route and psycopg's async connections, no thread and no ORM: the
  fastest way this stack has to write one row per request.

Their rates are the ceiling that any vote endpoint written on this stack can reach on this machine;
BENCHMARKS.md compares them with pgbench's. The database is FLOOR_DATABASE_URL (PostgreSQL)."""

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from fastapi import FastAPI, Header
from sqlalchemy import text

from app.core.db import make_engine

TABLE = "bench_floor_vote"
DATABASE_URL = os.environ.get("FLOOR_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/carreau_bench")
CONNECTIONS = 16  # per worker: wrk's 32 connections over 2 workers
INSERT = f"INSERT INTO {TABLE} (proposal_id, voter) VALUES (%s, %s) ON CONFLICT DO NOTHING"
SYNC_INSERT = text(f"INSERT INTO {TABLE} (proposal_id, voter) VALUES (:p, :v) ON CONFLICT DO NOTHING")

sync_app = FastAPI()
_engine = make_engine(DATABASE_URL, pool_size=CONNECTIONS, max_overflow=0)


@sync_app.put("/api/v1/proposals/{proposal_id}/support")
def sync_vote(proposal_id: int, authorization: str = Header()) -> dict[str, bool]:
    with _engine.begin() as connection:
        connection.execute(SYNC_INSERT, {"p": proposal_id, "v": authorization[-24:]})
    return {"supported": True}


@sync_app.get("/")
def sync_ready() -> dict[str, bool]:
    return {"ready": True}


_pool: "asyncio.Queue[psycopg.AsyncConnection]" = asyncio.Queue()


@asynccontextmanager
async def _connections(app: FastAPI) -> AsyncIterator[None]:
    conninfo = DATABASE_URL.replace("postgresql+psycopg://", "postgresql://")
    opened = [await psycopg.AsyncConnection.connect(conninfo, autocommit=True) for _ in range(CONNECTIONS)]
    for connection in opened:
        _pool.put_nowait(connection)
    yield
    for connection in opened:
        await connection.close()


async_app = FastAPI(lifespan=_connections)


@async_app.put("/api/v1/proposals/{proposal_id}/support")
async def async_vote(proposal_id: int, authorization: str = Header()) -> dict[str, bool]:
    connection = await _pool.get()
    try:
        await connection.execute(INSERT, (proposal_id, authorization[-24:]))  # autocommit: its own transaction
    finally:
        _pool.put_nowait(connection)
    return {"supported": True}


@async_app.get("/")
async def async_ready() -> dict[str, bool]:
    return {"ready": True}


def create_table(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text(f"DROP TABLE IF EXISTS {TABLE}"))
        connection.execute(text(f"CREATE TABLE {TABLE} (proposal_id integer NOT NULL, voter text NOT NULL, "
                                "PRIMARY KEY (proposal_id, voter))"))
    engine.dispose()


def drop_table(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text(f"DROP TABLE IF EXISTS {TABLE}"))
    engine.dispose()
