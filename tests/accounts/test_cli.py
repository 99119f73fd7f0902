"""`carreau users` and `carreau tokens`, on a temporary SQLite database."""

import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import Result
from fastapi.testclient import TestClient
from sqlalchemy import inspect
from sqlmodel import Session, select
from typer.testing import CliRunner

from app.accounts import service
from app.accounts.models import AccessToken, RoleGrant, User
from app.audit import service as audit
from app.cli import cli
from app.core.db import make_engine
from app.core.settings import Settings, get_settings
from app.main import create_app
from app.territory.models import Axis

runner = CliRunner()
PASSPHRASE = "une phrase de passe longue"
CREATE = ["users", "create", "a@b.fr", "--name", "Ana", "--role", "moderator", "--axis", "3",
          "--commune-of-residence", "62510", "--password-stdin"]


@contextmanager
def logging_kept() -> Iterator[None]:
    """migrations/env.py configures logging from alembic.ini; put it back as it was."""
    names = ["", "alembic", "sqlalchemy", "sqlalchemy.engine"]
    saved = {name: (logging.getLogger(name).level, list(logging.getLogger(name).handlers)) for name in names}
    try:
        yield
    finally:
        for name, (level, handlers) in saved.items():
            logger = logging.getLogger(name)
            for handler in logger.handlers:
                if handler not in handlers:
                    handler.close()
            logger.setLevel(level)
            logger.handlers[:] = handlers


def use_database(monkeypatch: pytest.MonkeyPatch, var_dir: Path) -> Path:
    path = var_dir / "carreau.db"
    monkeypatch.setenv("CARREAU_VAR_DIR", str(var_dir))
    monkeypatch.setenv("CARREAU_DATABASE_URL", f"sqlite:///{path}")
    get_settings.cache_clear()
    return path


def run(*args: str, input: str | None = None) -> Result:
    with logging_kept():
        return runner.invoke(cli, list(args), input=input)


def invoke(*args: str, input: str | None = None) -> str:
    result = run(*args, input=input)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def fails(*args: str, input: str | None = None, code: int = 1) -> str:
    """The command fails with `code`; its output, on one line (Click's error box unwrapped)."""
    result = run(*args, input=input)
    assert result.exit_code == code, result.output + repr(result.exception)
    return " ".join(result.output.replace("│", " ").split())


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database migrated and seeded once through the command line, copied by each test."""
    var_dir = tmp_path_factory.mktemp("seeded")
    with pytest.MonkeyPatch.context() as monkeypatch:
        path = use_database(monkeypatch, var_dir)
        assert "Running upgrade" in invoke("db", "upgrade")
        assert "Territory: created 362 commune" in invoke("seed", "territory")
    get_settings.cache_clear()
    return path


@pytest.fixture
def database(seeded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = use_database(monkeypatch, tmp_path / "var")
    path.parent.mkdir(parents=True)
    shutil.copyfile(seeded, path)
    yield path
    get_settings.cache_clear()


@contextmanager
def opened(path: Path) -> Iterator[Session]:
    engine = make_engine(f"sqlite:///{path}")
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


def grants(path: Path, email: str = "a@b.fr") -> list[tuple[str, str]]:
    with opened(path) as session:
        user = service.find_by_email(session, email)
        assert user is not None
        rows = session.exec(select(RoleGrant).where(RoleGrant.user_id == user.id).order_by(RoleGrant.id))
        return [(g.role, g.scope_key) for g in rows]


def axis_3(path: Path) -> int:
    with opened(path) as session:
        axis = session.exec(select(Axis).where(Axis.number == 3)).one()
        assert axis.id is not None
        return axis.id


def test_db_upgrade_and_seed_make_the_accounts_tables(seeded: Path) -> None:
    engine = make_engine(f"sqlite:///{seeded}")
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {"user_account", "oidc_identity", "user_session", "role_grant", "access_token", "account_token",
            "audit_entry", "commune", "axis"} <= tables


def test_users_create(database: Path) -> None:
    output = invoke(*CREATE, input=PASSPHRASE + "\n")
    assert output == "Created account 1 for a@b.fr (moderator).\n"
    with opened(database) as session:
        user = service.find_by_email(session, "a@b.fr")
        assert user is not None
        assert (user.display_name, user.commune_insee, user.verification_level) == ("Ana", "62510", "declared")
        assert user.is_email_confirmed is True
        assert user.password_hash is not None
        assert user.password_hash.startswith("$argon2id$")
        assert service.verify_password(PASSPHRASE, user.password_hash)
        (entry,) = audit.entries_for(session, target_type="user", target_id=user.id)
        assert (entry.action, entry.actor_id) == ("role.granted", None)
        assert entry.actor_label == "carreau (ligne de commande)"
    assert grants(database) == [("moderator", f"axis:{axis_3(database)}")]


def test_users_create_without_password_nor_role(database: Path) -> None:
    assert invoke("users", "create", "c@d.fr", "--name", "Chloé") == "Created account 1 for c@d.fr (resident).\n"
    with opened(database) as session:
        user = service.find_by_email(session, "c@d.fr")
        assert user is not None
        assert (user.password_hash, user.commune_insee, user.verification_level) == (None, None, "none")
    assert grants(database, "c@d.fr") == []


def test_users_grant_and_revoke(database: Path) -> None:
    invoke(*CREATE, input=PASSPHRASE + "\n")
    assert invoke("users", "grant", "a@b.fr", "evaluator") == "Granted evaluator to a@b.fr.\n"
    assert invoke("users", "grant", "A@B.fr", "mediator", "--commune", "62510") == "Granted mediator to A@B.fr.\n"
    axis = axis_3(database)
    assert grants(database) == [("moderator", f"axis:{axis}"), ("evaluator", ""), ("mediator", "commune:62510")]

    assert invoke("users", "revoke", "a@b.fr", "evaluator") == "Revoked evaluator from a@b.fr.\n"
    assert invoke("users", "revoke", "a@b.fr", "moderator", "--axis", "3") == "Revoked moderator from a@b.fr.\n"
    assert grants(database) == [("mediator", "commune:62510")]
    assert "Error: Cette personne n’a pas ce rôle." in fails("users", "revoke", "a@b.fr", "evaluator")
    assert "Error: Cette personne a déjà ce rôle." in fails("users", "grant", "a@b.fr", "mediator", "--commune",
                                                            "62510")
    with opened(database) as session:
        user = service.find_by_email(session, "a@b.fr")
        assert user is not None
        actions = [e.action for e in audit.entries_for(session, target_type="user", target_id=user.id)]
    assert actions == ["role.granted"] * 3 + ["role.revoked"] * 2


def test_bad_role(database: Path) -> None:
    """Click refuses an unknown role before the command runs: a usage error (exit code 2)."""
    invoke(*CREATE, input=PASSPHRASE + "\n")
    output = fails("users", "grant", "a@b.fr", "roi", code=2)
    assert "Invalid value for 'role'" in output
    assert "'roi' is not one of 'resident', 'mediator', 'moderator', 'evaluator', 'admin'" in output
    assert "'roi' is not one of" in fails("users", "create", "x@y.fr", "--name", "Xavier", "--role", "roi", code=2)


def test_unknown_axis_creates_nothing(database: Path) -> None:
    output = fails(*[a if a != "3" else "99" for a in CREATE], input=PASSPHRASE + "\n")
    assert output == "Error: there is no axis 99 (run `carreau seed territory`)."
    with opened(database) as session:
        assert service.find_by_email(session, "a@b.fr") is None  # the account was not kept either
    invoke(*CREATE, input=PASSPHRASE + "\n")
    assert "there is no axis 17" in fails("users", "grant", "a@b.fr", "evaluator", "--axis", "17")


def test_duplicate_email(database: Path) -> None:
    invoke(*CREATE, input=PASSPHRASE + "\n")
    output = fails("users", "create", "A@b.fr", "--name", "Autre")
    assert output == "Error: Le formulaire contient des erreurs. Un compte existe déjà avec cette adresse."
    with opened(database) as session:
        assert len(session.exec(select(User)).all()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "A"], "Le nom affiché doit compter de 2 à 80 caractères."),
        (["--name", "Ana", "--password-stdin"], "Le mot de passe doit compter au moins 12 caractères."),
        (["--name", "Ana", "--commune-of-residence", "75056"], "Cette commune ne fait pas partie du territoire."),
        (["--name", "Ana", "--role", "mediator", "--axis", "3", "--commune", "62510"],
         "Un rôle porte sur un seul périmètre : un axe, une consultation ou une commune."),
    ],
    ids=["short-name", "weak-password", "commune-elsewhere", "two-scopes"],
)
def test_users_create_errors(database: Path, args: list[str], message: str) -> None:
    output = fails("users", "create", "a@b.fr", *args, input="court\n")
    assert output.startswith("Error: ")
    assert message in output
    with opened(database) as session:
        assert service.find_by_email(session, "a@b.fr") is None


def test_unknown_person(database: Path) -> None:
    for command in (["users", "grant", "x@y.fr", "admin"], ["users", "revoke", "x@y.fr", "admin"],
                    ["tokens", "create", "x@y.fr", "--name", "script"], ["tokens", "list", "x@y.fr"]):
        assert fails(*command) == "Error: no account with the address x@y.fr."


def test_tokens(database: Path, tmp_path: Path) -> None:
    invoke(*CREATE, input=PASSPHRASE + "\n")
    raw = invoke("tokens", "create", "a@b.fr", "--name", "script d’évaluation").strip()
    assert raw.startswith("carreau_")
    assert len(raw) > 40

    settings = Settings(_env_file=None, var_dir=tmp_path / "var", database_url=f"sqlite:///{database}",
                        secret_key="x" * 40)
    app = create_app(settings)
    try:
        with TestClient(app) as client:
            me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"})
            assert me.status_code == 200
            assert me.json()["display_name"] == "Ana"
            assert me.json()["roles"][1] == {"role": "moderator", "axis": axis_3(database), "consultation": None,
                                             "commune": None}

            with opened(database) as session:
                token = session.exec(select(AccessToken)).one()
                assert token.token_hash == service.digest(raw)
                assert token.last_used_at is not None
            listed = invoke("tokens", "list", "a@b.fr")
            assert raw not in listed
            fields = listed.rstrip("\n").split("\t")
            assert fields[:4] == [str(token.id), f"{raw[:12]}…", "script d’évaluation", "active"]

            assert invoke("tokens", "revoke", "a@b.fr", str(token.id)) == f"Revoked token {token.id}.\n"
            assert "\trevoked\t" in invoke("tokens", "list", "a@b.fr")
            assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"}).status_code == 401
    finally:
        app.state.engine.dispose()
    assert fails("tokens", "revoke", "a@b.fr", "999") == "Error: Ce jeton n’existe pas."
    assert fails("tokens", "create", "a@b.fr", "--name", " ") == (
        "Error: Le formulaire contient des erreurs. Donnez un nom de 1 à 80 caractères à ce jeton."
    )
