"""`carreau backup` and `carreau restore`: a consistent copy of the whole database, and back.

SQLite: the online backup API (sqlite3 `Connection.backup`) copies the database page by page
under a read transaction, WAL included, while the platform keeps running; the copy is one
self-contained SQLite file. PostgreSQL: `pg_dump --format=custom` (a consistent snapshot, taken
while the platform runs) and `pg_restore --clean --if-exists --no-owner --single-transaction`.
Connection details go to the PostgreSQL tools through PG* environment variables, the password
never on a command line (where `ps` would show it).

Both copies hold the `alembic_version` table: after a restore, the schema revision is compared
with the code's, and `carreau db upgrade` is asked for when the copy is older."""

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import URL, make_url

from app.core.db import make_engine
from app.core.settings import PROJECT_ROOT

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_CUSTOM_MAGIC = b"PGDMP"


class BackupError(Exception):
    """Something the operator must fix; the message says what."""


@dataclass(frozen=True)
class BackupReport:
    path: Path
    backend: str
    revision: str | None  # the Alembic revision of the database copied
    size: int


@dataclass(frozen=True)
class RestoreReport:
    backend: str
    revision: str | None  # the Alembic revision of the restored database
    head: str | None  # the code's
    rows: int  # rows restored, every table together

    @property
    def needs_upgrade(self) -> bool:
        return self.revision != self.head


def backend_of(database_url: str) -> str:
    backend = make_url(database_url).get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise BackupError(f"Unsupported database: {backend} (SQLite or PostgreSQL only).")
    return backend


def code_head() -> str | None:
    """The newest migration of this version of Carreau."""
    return ScriptDirectory(str(PROJECT_ROOT / "migrations")).get_current_head()


def database_revision(engine: Engine) -> str | None:
    """The Alembic revision the database says it is at (None: not migrated)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows per table (alembic_version aside), for reports and for the tests."""
    counts: dict[str, int] = {}
    with engine.connect() as connection:
        for table in sorted(inspect(connection).get_table_names()):
            if table == "alembic_version":
                continue
            quoted = connection.dialect.identifier_preparer.quote(table)
            counts[table] = int(connection.execute(text(f"SELECT count(*) FROM {quoted}")).scalar() or 0)
    return counts


@contextmanager
def _engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _sqlite_path(database_url: str) -> Path:
    database = make_url(database_url).database
    if not database or database == ":memory:":
        raise BackupError("An in-memory SQLite database cannot be backed up or restored.")
    return Path(database)


def _kind_of_file(path: Path) -> str:
    with path.open("rb") as handle:
        start = handle.read(len(SQLITE_MAGIC))
    if start == SQLITE_MAGIC:
        return "sqlite"
    if start.startswith(PG_CUSTOM_MAGIC):
        return "postgresql"
    raise BackupError(f"{path} is neither a SQLite database nor a pg_dump custom archive.")


# --- backup


def backup(database_url: str, path: Path) -> BackupReport:
    """Copy the database to `path` (written next to it as `path.part`, renamed once complete:
    a file at `path` is always a whole backup)."""
    backend = backend_of(database_url)
    path = path.resolve()
    if path.is_dir():
        raise BackupError(f"{path} is a directory: give a file name.")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.unlink(missing_ok=True)
    with _engine(database_url) as engine:
        revision = database_revision(engine)
    try:
        if backend == "sqlite":
            _sqlite_backup(_sqlite_path(database_url), partial)
        else:
            _pg_dump(database_url, partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return BackupReport(path, backend, revision, path.stat().st_size)


def _sqlite_backup(source: Path, target: Path) -> None:
    if not source.exists():
        raise BackupError(f"No database at {source}.")
    with closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src, \
            closing(sqlite3.connect(target)) as dst:
        # All pages in one step, under one read transaction: in WAL mode writers go on meanwhile, and
        # the copy is the database as of that transaction (a stepped copy would start over each
        # time another connection writes, and might never end on a busy platform).
        src.backup(dst, pages=-1)
        # The copy is one file: no WAL beside it, whatever the source's journal mode.
        dst.execute("PRAGMA journal_mode=DELETE")
        check = dst.execute("PRAGMA integrity_check").fetchone()
        if check is None or check[0] != "ok":
            raise BackupError(f"The copy fails SQLite's integrity check: {check}.")


# --- restore


def restore(database_url: str, path: Path, *, force: bool = False) -> RestoreReport:
    """Replace the configured database by the backup at `path`. Refuses a database that holds
    rows unless `force` (stop the platform before restoring). The safe path is an empty database:
    on PostgreSQL `--clean` drops and recreates what the backup holds, and leaves tables that only
    a newer schema has."""
    backend = backend_of(database_url)
    path = path.resolve()
    if not path.is_file():
        raise BackupError(f"No backup file at {path}.")
    kind = _kind_of_file(path)
    if kind != backend:
        raise BackupError(f"{path} is a {kind} backup; the configured database is {backend}.")
    with _engine(database_url) as engine:
        if backend == "sqlite" and not _sqlite_path(database_url).exists():
            filled: dict[str, int] = {}
        else:
            filled = {table: n for table, n in row_counts(engine).items() if n}
    if filled and not force:
        tables = ", ".join(f"{table} ({n})" for table, n in sorted(filled.items())[:5])
        raise BackupError(
            f"The configured database is not empty ({tables}{'…' if len(filled) > 5 else ''}): "
            "restoring would replace it. Use --force to replace it anyway."
        )
    if backend == "sqlite":
        _sqlite_restore(path, _sqlite_path(database_url))
    else:
        _pg_restore(database_url, path)
    with _engine(database_url) as engine:
        revision = database_revision(engine)
        rows = sum(row_counts(engine).values())
    return RestoreReport(backend, revision, code_head(), rows)


def _sqlite_restore(source: Path, target: Path) -> None:
    with closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src:
        check = src.execute("PRAGMA integrity_check").fetchone()
        if check is None or check[0] != "ok":
            raise BackupError(f"{source} fails SQLite's integrity check: {check}.")
        target.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(target, timeout=30)) as dst:
            # The backup API replaces every page of the target in one go, under its write lock.
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=WAL")
            check = dst.execute("PRAGMA integrity_check").fetchone()
            if check is None or check[0] != "ok":
                raise BackupError(f"The restored database fails SQLite's integrity check: {check}.")


# --- PostgreSQL tools


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"`{name}` was not found on PATH. Install the PostgreSQL client tools of the server's major "
            "version (Debian: apt-get install postgresql-client)."
        )
    return found


def pg_environment(database_url: str) -> dict[str, str]:
    """The PG* variables that name the database for pg_dump and pg_restore (password included)."""
    url: URL = make_url(database_url)
    environment = {name: value for name, value in os.environ.items() if not name.startswith("PG")}
    for variable, value in (("PGHOST", url.host), ("PGPORT", url.port), ("PGUSER", url.username),
                            ("PGPASSWORD", url.password), ("PGDATABASE", url.database)):
        if value not in (None, ""):
            environment[variable] = str(value)
    for option, variable in (("sslmode", "PGSSLMODE"), ("sslrootcert", "PGSSLROOTCERT"), ("host", "PGHOST")):
        value = url.query.get(option)
        if isinstance(value, str):
            environment[variable] = value
    if "PGDATABASE" not in environment:
        raise BackupError("The database URL names no database.")
    return environment


def _run(arguments: list[str], environment: dict[str, str]) -> None:
    try:
        result = subprocess.run(arguments, env=environment, capture_output=True, text=True, check=False)
    except OSError as error:
        raise BackupError(f"Could not run {arguments[0]}: {error}.") from error
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip()
        raise BackupError(f"{Path(arguments[0]).name} failed (exit {result.returncode}): {message}")


def _pg_dump(database_url: str, target: Path) -> None:
    _run([_pg_tool("pg_dump"), "--format=custom", "--no-password", f"--file={target}"],
         pg_environment(database_url))


def _pg_restore(database_url: str, source: Path) -> None:
    environment = pg_environment(database_url)
    _run([_pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
          "--exit-on-error", "--no-password", f"--dbname={environment['PGDATABASE']}", str(source)], environment)
