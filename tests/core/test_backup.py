"""`carreau backup` and `carreau restore`: a seeded database, backed up, restored into an EMPTY
database, gives the same results, the same rows in every table and the same exports; on SQLite
(online backup API) and on PostgreSQL (pg_dump / pg_restore)."""

import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, inspect, select, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col
from sqlmodel import select as sqlmodel_select

import app.models  # noqa: F401
from app.accounts import service as accounts
from app.accounts.models import User
from app.audit import service as audit
from app.cli import cli
from app.consultations.models import Consultation
from app.core import backup as backups
from app.core.db import make_engine
from app.core.settings import get_settings
from app.evaluation import exports
from app.moderation.models import Report
from app.notifications import service as notifications
from app.notifications.models import FollowTarget, NotificationKind
from app.proposals.models import Comment
from app.territory.seed import load_axes, load_territory
from app.voting import ballots, results
from app.voting import service as voting
from tests.factories import NOW, make_consultation, make_proposal, make_user
from tests.support import create_database, database_name, drop_database, logging_kept, migrate, runner, worker_id

SECRET = "s" * 40
LATER = NOW + timedelta(days=30)  # every vote of the seed is over: results and ballots are exported


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    with logging_kept():
        yield


class Databases:
    """Fresh databases of the backend under test, dropped afterwards."""

    def __init__(self, database_url: str, tmp_path: Path) -> None:
        self.backend = backups.backend_of(database_url)
        self.base_url = database_url
        self.tmp_path = tmp_path
        self.created: list[str] = []

    def new(self, name: str) -> str:
        if self.backend == "sqlite":
            return f"sqlite:///{self.tmp_path / (name + '.db')}"
        full = database_name(self.base_url, f"{worker_id()}_{name}")
        self.created.append(full)
        return create_database(self.base_url, full)

    def drop(self) -> None:
        for name in self.created:
            drop_database(self.base_url, name)


@pytest.fixture
def databases(database_url: str, tmp_path: Path) -> Iterator[Databases]:
    found = Databases(database_url, tmp_path)
    try:
        yield found
    finally:
        found.drop()


@pytest.fixture
def use_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Point the command's settings at a database URL."""

    def use(url: str) -> None:
        monkeypatch.setenv("CARREAU_VAR_DIR", str(tmp_path / "var"))
        monkeypatch.setenv("CARREAU_DATABASE_URL", url)
        get_settings.cache_clear()

    yield use
    get_settings.cache_clear()


def carreau(*args: str, code: int = 0) -> str:
    result = runner.invoke(cli, list(args))
    assert result.exit_code == code, result.output + repr(result.exception)
    return result.output


@pytest.fixture
def engines() -> Iterator[list[Engine]]:
    made: list[Engine] = []
    yield made
    for engine in made:
        engine.dispose()


def seed(url: str, engines: list[Engine], *, revision: str = "head") -> None:
    """Territory, residents, three consultations (supports, majority judgment, budget) with their
    votes, comments, a report, notifications, follows and audit entries."""
    engine = make_engine(url)
    engines.append(engine)
    migrate(engine, revision)
    if revision != "head":
        return
    with Session(engine) as session:
        load_territory(session)
        load_axes(session)
        residents = [make_user(session, name=f"Votant {i}") for i in range(7)]
        principals = [accounts.load_principal(session, user) for user in residents]
        support = make_consultation(session, voting_method="support", max_supports=3)
        judged = make_consultation(session, voting_method="majority_judgment", axis_number=2)
        budget = make_consultation(session, voting_method="budget", axis_number=3, budget_total=100_000)
        proposals = {
            c.id: [make_proposal(session, c, residents[i], estimated_cost=20_000 * (i + 1)) for i in range(4)]
            for c in (support, judged, budget)
        }
        grades = ["excellent", "bien", "passable", "insuffisant", "a_rejeter", "tres_bien", "assez_bien"]
        for i, principal in enumerate(principals):
            for proposal in proposals[support.id][: 1 + i % 3]:
                voting.add_support(session, principal, proposal, now=NOW)
            ballots.cast_ballot(session, principal, judged, now=NOW, grades={
                p.id: grades[(i + j) % len(grades)] for j, p in enumerate(proposals[judged.id])})
            ballots.cast_ballot(session, principal, budget, now=NOW,
                                proposal_ids=[p.id for p in proposals[budget.id][i % 2: i % 2 + 2]])
        first = proposals[support.id][0]
        comment = Comment(proposal_id=first.id, author_id=residents[1].id, body="Bonne idée « ici » ; 'quote'",
                          body_html="<p>Bonne idée « ici » ; 'quote'</p>", created_at=NOW, updated_at=NOW)
        session.add(comment)
        session.flush()
        session.add(Comment(proposal_id=first.id, parent_id=comment.id, depth=1, author_id=residents[2].id,
                            body="Réponse", body_html="<p>Réponse</p>", created_at=NOW, updated_at=NOW))
        session.add(Report(target_type="comment", target_key=f"comment:{comment.id}", comment_id=comment.id,
                           reporter_id=residents[3].id, reason="spam", text="Publicité", created_at=NOW))
        notifications.follow(session, residents[0].id, FollowTarget.proposal, first.id, now=NOW)
        notifications.notify(session, [residents[0].id], kind=NotificationKind.comment_reply,
                             target_type="proposal", target_id=first.id, title="Une réponse", url="/", now=NOW)
        audit.record(session, actor_id=residents[0].id, actor_label="Votant 0", action="test.seeded",
                     target_type="consultation", target_id=support.id, now=NOW, after={"é": "ü"})
        accounts.erase_account(session, _NoSessions(), residents[6], now=NOW)  # votes kept, unlinked
        session.commit()


class _NoSessions:
    def delete_for_user(self, user_id: int, **_options: Any) -> int:
        return 0


def canonical(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order."""
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as connection:
        return {
            name: sorted((tuple(row) for row in connection.execute(select(table))), key=repr)
            for name, table in sorted(metadata.tables.items())
        }


def outcomes(engine: Engine) -> dict[str, Any]:
    """Each consultation's results, and its JSON export as an evaluator's file would be."""
    found: dict[str, Any] = {}
    with Session(engine) as session:
        for consultation in session.exec(sqlmodel_select(Consultation).order_by(col(Consultation.id))).all():
            found[f"results {consultation.slug}"] = results.compute(session, consultation)
            plan = exports.plan_operator_export(session, consultation.id, fmt=exports.Format.json,
                                                what=exports.What.all, now=LATER, secret=SECRET, threshold=5,
                                                licence="etalab-2.0")
            found[f"export {consultation.slug}"] = b"".join(exports.export_chunks(session, plan))
        session.rollback()  # the results snapshots the exports stored
    return found


def test_backup_then_restore_into_an_empty_database(
    databases: Databases, use_database: Any, engines: list[Engine], tmp_path: Path
) -> None:
    source = databases.new("backup_source")
    seed(source, engines)
    use_database(source)
    output = carreau("backup", str(tmp_path / "copies" / "carreau.backup"))
    assert f"schema revision {backups.code_head()}" in output
    assert not list((tmp_path / "copies").glob("*.part"))

    target = databases.new("backup_target")
    use_database(target)
    output = carreau("restore", str(tmp_path / "copies" / "carreau.backup"))
    assert "Restored" in output
    assert "db upgrade" not in output  # same schema revision

    source_engine, target_engine = engines[0], make_engine(target)
    engines.append(target_engine)
    assert backups.row_counts(target_engine) == backups.row_counts(source_engine)
    assert backups.row_counts(target_engine)["ballot_grade"] == 7 * 4
    assert canonical(target_engine) == canonical(source_engine)
    expected = outcomes(source_engine)
    assert outcomes(target_engine) == expected
    assert sum(1 for key in expected if key.startswith("export")) == 3
    assert backups.database_revision(target_engine) == backups.code_head()

    # The restored database goes on: new rows get new ids, the audit log is still append-only.
    with Session(target_engine) as session:
        user = make_user(session, name="Après restauration")
        others = session.exec(sqlmodel_select(User.id).where(User.id != user.id)).all()
        assert user.id is not None
        assert user.id > max(i for i in others if i is not None)
        session.commit()
    with pytest.raises(DBAPIError), target_engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_entry"))


def test_restore_refuses_a_database_that_is_not_empty(
    databases: Databases, use_database: Any, engines: list[Engine], tmp_path: Path
) -> None:
    source = databases.new("backup_full")
    seed(source, engines)
    use_database(source)
    path = tmp_path / "full.backup"
    carreau("backup", str(path))
    with Session(engines[0]) as session:
        make_user(session, name="Arrivé après la sauvegarde")
        session.commit()
    before = backups.row_counts(engines[0])["user_account"]

    output = carreau("restore", str(path), code=1)
    assert "not empty" in output
    assert "--force" in output
    assert backups.row_counts(engines[0])["user_account"] == before

    carreau("restore", str(path), "--force")
    assert backups.row_counts(engines[0])["user_account"] == before - 1


def test_restoring_an_older_schema_asks_for_an_upgrade(
    databases: Databases, use_database: Any, engines: list[Engine], tmp_path: Path
) -> None:
    source = databases.new("backup_old")
    seed(source, engines, revision="8d373fc52b06")
    use_database(source)
    carreau("backup", str(tmp_path / "old.backup"))
    use_database(databases.new("backup_old_target"))
    output = carreau("restore", str(tmp_path / "old.backup"))
    assert "is older" in output
    assert "carreau db upgrade" in output


def test_a_file_that_is_no_backup_of_this_kind_is_refused(
    databases: Databases, use_database: Any, tmp_path: Path
) -> None:
    use_database(databases.new("backup_wrong"))
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"not a backup at all")
    assert "neither a SQLite database nor a pg_dump" in carreau("restore", str(junk), code=1)
    other = tmp_path / "other.backup"
    other.write_bytes(b"PGDMP" if databases.backend == "sqlite" else backups.SQLITE_MAGIC)
    assert "backup; the configured database is" in carreau("restore", str(other), code=1)
    assert "No backup file" in carreau("restore", str(tmp_path / "missing.backup"), code=1)


def test_postgresql_tools_get_the_password_from_the_environment_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[tuple[list[str], dict[str, str]]] = []

    def run(arguments: list[str], *, env: dict[str, str], **_options: Any) -> subprocess.CompletedProcess[str]:
        seen.append((arguments, env))
        return subprocess.CompletedProcess(arguments, 0, "", "")

    monkeypatch.setattr(backups.subprocess, "run", run)
    monkeypatch.setenv("PGPASSWORD", "left-over")
    url = "postgresql://carreau:s3cr%C3%A8t@db.example:5433/prod?sslmode=require"
    backups._pg_dump(url, tmp_path / "x.backup")
    backups._pg_restore(url, tmp_path / "x.backup")
    for arguments, env in seen:
        assert not any("s3cr" in argument for argument in arguments)
        assert (env["PGPASSWORD"], env["PGHOST"], env["PGPORT"], env["PGUSER"], env["PGDATABASE"],
                env["PGSSLMODE"]) == ("s3crèt", "db.example", "5433", "carreau", "prod", "require")
    assert "--format=custom" in seen[0][0]
    assert {"--clean", "--if-exists", "--no-owner", "--dbname=prod"} <= set(seen[1][0])


def test_missing_postgresql_tools_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(backups.shutil, "which", lambda _name: None)
    with pytest.raises(backups.BackupError, match=r"pg_dump.*postgresql-client"):
        backups._pg_dump("postgresql://u@h/db", tmp_path / "x.backup")


def test_the_sqlite_copy_is_one_file_even_while_the_database_is_written(
    tmp_path: Path, engines: list[Engine]
) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    seed(url, engines)
    engine = engines[0]
    with engine.connect() as reader:  # a reader holds a snapshot; the WAL is not checkpointed
        reader.execute(text("SELECT count(*) FROM user_account")).scalar()
        with Session(engine) as session:
            make_user(session, name="Écrit pendant la sauvegarde")
            session.commit()
        report = backups.backup(url, tmp_path / "live.backup")
    assert report.path.read_bytes().startswith(backups.SQLITE_MAGIC)
    assert not (tmp_path / "live.backup-wal").exists()
    copy = make_engine(f"sqlite:///{tmp_path / 'live.backup'}")
    engines.append(copy)
    assert backups.row_counts(copy) == backups.row_counts(engine)
    assert "user_account" in inspect(copy).get_table_names()
