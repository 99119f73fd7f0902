"""The `carreau` command: database migrations, seed data and the server."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from alembic import command
from alembic.config import Config
from sqlmodel import Session, select

import app.models  # noqa: F401  (every table in the metadata, for foreign keys between domains)
from app import demo
from app.accounts import service as accounts
from app.accounts.models import Role, User
from app.backoffice import retention
from app.consultations.phases import running
from app.core import backup as backups
from app.core.clock import utcnow
from app.core.db import make_engine
from app.core.errors import DomainError
from app.core.i18n import gettext
from app.core.settings import PROJECT_ROOT, Settings, get_settings
from app.evaluation import exports
from app.notifications import delivery
from app.notifications import service as notifications
from app.territory import seed as territory_seed
from app.territory.models import Axis
from app.voting import results

cli = typer.Typer(help="Carreau, la plateforme de participation du Bassin minier.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
db_cli = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
seed_cli = typer.Typer(help="Reference and demonstration data.", no_args_is_help=True)
users_cli = typer.Typer(help="People and their roles.", no_args_is_help=True)
tokens_cli = typer.Typer(help="Personal access tokens for the API.", no_args_is_help=True)
results_cli = typer.Typer(help="Results of votes.", no_args_is_help=True)
notifications_cli = typer.Typer(help="Notifications: phase starts and emails.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(seed_cli, name="seed")
cli.add_typer(users_cli, name="users")
cli.add_typer(tokens_cli, name="tokens")
cli.add_typer(results_cli, name="results")
cli.add_typer(notifications_cli, name="notifications")

AxisOption = Annotated[int | None, typer.Option("--axis", help="Scope: axis number (1-16)")]
ConsultationOption = Annotated[int | None, typer.Option("--consultation", help="Scope: consultation id")]
CommuneOption = Annotated[str | None, typer.Option("--commune", help="Scope: commune INSEE code")]


@contextmanager
def _database() -> Iterator[Session]:
    """A session for one command: committed when the command succeeds, errors shown plainly."""
    engine = make_engine(get_settings().database_url)
    try:
        with Session(engine) as session:
            yield session
            session.commit()
    except DomainError as error:
        messages = [gettext(error.message)]
        for field_messages in getattr(error, "errors", {}).values():
            messages.extend(gettext(m) for m in field_messages)
        typer.echo("Error: " + " ".join(messages), err=True)
        raise typer.Exit(code=1) from error
    finally:
        engine.dispose()


def _user(session: Session, email: str) -> User:
    user = accounts.find_by_email(session, email)
    if user is None or user.is_erased:
        typer.echo(f"Error: no account with the address {email}.", err=True)
        raise typer.Exit(code=1)
    return user


def _axis_id(session: Session, number: int | None) -> int | None:
    if number is None:
        return None
    axis = session.exec(select(Axis).where(Axis.number == number)).first()
    if axis is None:
        typer.echo(f"Error: there is no axis {number} (run `carreau seed territory`).", err=True)
        raise typer.Exit(code=1)
    return axis.id


def alembic_config(database_url: str | None = None) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url or get_settings().database_url)
    return config


@db_cli.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision")] = "head") -> None:
    """Bring the database schema up to date."""
    command.upgrade(alembic_config(), revision)


@db_cli.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base")]) -> None:
    """Undo migrations down to a revision."""
    command.downgrade(alembic_config(), revision)


def _print_report(what: str, report: territory_seed.LoadReport) -> None:
    created = ", ".join(f"{n} {table}" for table, n in sorted(report.created.items())) or "nothing"
    updated = ", ".join(f"{n} {table}" for table, n in sorted(report.updated.items())) or "nothing"
    typer.echo(f"{what}: created {created}; updated {updated}.")


@seed_cli.command("territory")
def seed_territory() -> None:
    """Load the EPCIs, communes and axes shipped with Carreau (idempotent)."""
    engine = make_engine(get_settings().database_url)
    with Session(engine) as session:
        territory = territory_seed.load_territory(session)
        axes = territory_seed.load_axes(session)
        session.commit()
    engine.dispose()
    _print_report("Territory", territory)
    _print_report("Axes", axes)


@seed_cli.command("demo")
def seed_demo() -> None:
    """Everything a demonstration needs: the territory and axes, about thirty residents and a few staff
    accounts (addresses @demo.carreau.invalid), and six consultations in every phase with proposals,
    supports and comments. Idempotent: a second run creates nothing.

    Demo accounts have no password unless CARREAU_DEMO_PASSWORD is set:
    the admin, moderator, mediator, evaluator and two residents then get it
    (if they have none yet), so that you can sign in as them."""
    seed_territory()
    password = os.environ.get(demo.PASSWORD_VARIABLE) or None
    with _database() as session:
        report = demo.load_demo(session, now=utcnow(), password=password,
                                terms_version=get_settings().terms_version)
    typer.echo(report.summary())
    if password is None:
        typer.echo(f"Set {demo.PASSWORD_VARIABLE} to sign in as the demo accounts ({demo.ADMIN_EMAIL} and others).")
    else:
        typer.echo(f"Sign in at {get_settings().base_url}/connexion with the password in {demo.PASSWORD_VARIABLE} "
                   f"as: {', '.join(report.sign_in_accounts)}.")


@users_cli.command("create")
def users_create(
    email: Annotated[str, typer.Argument(help="E-mail address (also the sign-in name)")],
    name: Annotated[str, typer.Option("--name", help="Display name")],
    role: Annotated[Role, typer.Option("--role", help="Role to grant")] = Role.resident,
    axis: AxisOption = None,
    consultation: ConsultationOption = None,
    commune: CommuneOption = None,
    commune_of_residence: Annotated[str | None, typer.Option(help="INSEE code of the commune they live in")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read a password on standard input")] = False,
) -> None:
    """Create an account (its address counts as confirmed) and grant it a role."""
    password = typer.get_text_stream("stdin").readline().rstrip("\n") if password_stdin else None
    now = utcnow()
    with _database() as session:
        user = accounts.create_user(session, display_name=name, email=email, password=password,
                                    is_email_confirmed=True, commune_insee=commune_of_residence, now=now)
        if commune_of_residence:
            user.verification_level = "declared"
        if role is not Role.resident:
            accounts.grant_role(session, user, role, now=now, axis_id=_axis_id(session, axis),
                                consultation_id=consultation, commune_insee=commune)
        typer.echo(f"Created account {user.id} for {user.email} ({role.value}).")


@users_cli.command("grant")
def users_grant(email: str, role: Role, axis: AxisOption = None, consultation: ConsultationOption = None,
                commune: CommuneOption = None) -> None:
    """Grant a role, for the whole platform or scoped to an axis, a consultation or a commune."""
    with _database() as session:
        user = _user(session, email)
        accounts.grant_role(session, user, role, now=utcnow(), axis_id=_axis_id(session, axis),
                            consultation_id=consultation, commune_insee=commune)
        typer.echo(f"Granted {role.value} to {email}.")


@users_cli.command("revoke")
def users_revoke(email: str, role: Role, axis: AxisOption = None, consultation: ConsultationOption = None,
                 commune: CommuneOption = None) -> None:
    """Take a role back (same scope as it was granted with)."""
    with _database() as session:
        user = _user(session, email)
        accounts.revoke_role(session, user, role, now=utcnow(), axis_id=_axis_id(session, axis),
                             consultation_id=consultation, commune_insee=commune)
        typer.echo(f"Revoked {role.value} from {email}.")


@tokens_cli.command("create")
def tokens_create(email: str, name: Annotated[str, typer.Option("--name", help="What the token is for")]) -> None:
    """Create a personal access token; it is printed once and only its hash is kept."""
    with _database() as session:
        _, raw = accounts.create_access_token(session, _user(session, email), name=name, now=utcnow())
        typer.echo(raw)


@tokens_cli.command("list")
def tokens_list(email: str) -> None:
    """List someone's tokens (never their value)."""
    with _database() as session:
        for token in accounts.list_access_tokens(session, _user(session, email)):
            state = "revoked" if token.revoked_at else "active"
            typer.echo(f"{token.id}\t{token.prefix}…\t{token.name}\t{state}\tcreated {token.created_at:%Y-%m-%d}")


@tokens_cli.command("revoke")
def tokens_revoke(email: str, token_id: int) -> None:
    """Revoke one of someone's tokens."""
    with _database() as session:
        accounts.revoke_access_token(session, _user(session, email), token_id, now=utcnow())
        typer.echo(f"Revoked token {token_id}.")


@results_cli.command("close")
def results_close() -> None:
    """Fix the results of every vote that has ended (run it from cron at the end of voting phases)."""
    with _database() as session:
        closed = results.close_finished_votes(session, now=utcnow())
        for consultation in closed:
            typer.echo(f"Results fixed for consultation {consultation.id} ({consultation.slug}).")
        if not closed:
            typer.echo("No ended vote without its results.")


@cli.command("export")
def export(
    consultation_id: Annotated[int, typer.Argument(help="Consultation id")],
    out: Annotated[Path, typer.Option("--out", help="File to write")],
    fmt: Annotated[exports.Format, typer.Option(
        "--format", help="csv, xlsx, ods, json, bundle (open data) or pb (PaBuLib, budget consultations)",
    )] = exports.Format.csv,
    what: Annotated[exports.What, typer.Option("--what", help="What to export")] = exports.What.all,
    include_hidden: Annotated[bool, typer.Option(
        "--include-hidden", help="Also hidden and pending content (for moderators; never publish it)")] = False,
) -> None:
    """Export a consultation: proposals, anonymised ballots, results, comments (no names, no e-mails).
    Results hidden until the end of the vote stay out until then. `--format csv --what all` writes a zip."""
    settings = get_settings()
    partial = out.with_name(out.name + ".part")
    with _database() as session:
        plan = exports.plan_operator_export(
            session, consultation_id, fmt=fmt, what=what, now=utcnow(), secret=settings.secret_key,
            threshold=settings.privacy_threshold, licence=settings.open_data_licence, include_hidden=include_hidden,
            operator_name=settings.operator_name)
        session.commit()  # the results snapshot of an ended vote, stored on first use
        with partial.open("wb") as handle:
            for chunk in exports.export_chunks(session, plan):
                handle.write(chunk)
        partial.replace(out)
    counts = ", ".join(f"{n} {name}" for name, n in plan.row_counts.items())
    typer.echo(f"Wrote {out} ({counts or 'no rows counted'}).")


def send_notifications(session: Session, settings: Settings, *, now: datetime, **options: Any) -> str:
    """The job of `carreau notifications send` (options: delivery.send_emails's, e.g. sender=)."""
    starts = [
        notifications.PhaseStart(consultation.id or 0, phase.value, consultation.phase_starts()[phase],
                                 consultation.title, f"/consultations/{consultation.slug}")
        for consultation, phase in running(session, now)
    ]
    announced, created = notifications.announce_phase_starts(session, starts, now=now)
    session.commit()
    report = delivery.send_emails(session, settings, now=now, **options)
    return f"{announced} phase start(s) announced ({created} notification(s)); {report.summary()}"


@notifications_cli.command("send")
def notifications_send() -> None:
    """Announce the phases that started to the consultations' followers, then email what is due:
    immediate notifications, daily digests. Run it from cron every few minutes; it never sends
    anything twice, and after a mail server failure the next run sends what is left."""
    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        # Short transactions that each take SQLite's write lock at BEGIN: two runs at once queue
        # instead of failing; none is open while a mail goes out.
        with Session(engine.execution_options(sqlite_immediate=True)) as session:
            typer.echo(send_notifications(session, settings, now=utcnow()))
    finally:
        engine.dispose()


@cli.command("backup")
def backup(path: Annotated[Path, typer.Argument(help="File to write (SQLite file or pg_dump custom archive)")]) -> None:
    """Copy the whole database to PATH while the platform runs (SQLite online backup, or pg_dump)."""
    try:
        report = backups.backup(get_settings().database_url, path)
    except backups.BackupError as error:
        typer.echo(f"Error: {error}", err=True)
        raise typer.Exit(code=1) from error
    typer.echo(f"Wrote {report.path} ({report.backend}, {report.size} bytes, schema revision {report.revision}).")


@cli.command("restore")
def restore(
    path: Annotated[Path, typer.Argument(help="A file written by `carreau backup`")],
    force: Annotated[bool, typer.Option("--force", help="Replace a database that is not empty")] = False,
) -> None:
    """Replace the configured database by a backup (stop the platform first). Refuses a database
    that holds rows unless --force."""
    try:
        report = backups.restore(get_settings().database_url, path, force=force)
    except backups.BackupError as error:
        typer.echo(f"Error: {error}", err=True)
        raise typer.Exit(code=1) from error
    typer.echo(f"Restored {path} ({report.backend}, {report.rows} rows, schema revision {report.revision}).")
    if report.needs_upgrade:
        typer.echo(f"The backup's schema ({report.revision}) is older than this version of Carreau's "
                   f"({report.head}): run `carreau db upgrade` before serving.")


@cli.command("purge")
def purge(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would go, delete nothing")] = False,
) -> None:
    """Delete what has outlived its retention period (docs/registre-des-traitements.md); run it daily."""
    settings = get_settings()
    with _database() as session:
        report = retention.purge(session, now=utcnow(), dry_run=dry_run,
                                 session_idle=timedelta(minutes=settings.session_idle_minutes))
    for line in report.lines():
        typer.echo(line)
    typer.echo(f"{'Would remove' if dry_run else 'Removed'} {report.total} rows in all.")


@cli.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
    reload: Annotated[bool, typer.Option(help="Reload on code changes (development)")] = False,
    forwarded_allow_ips: Annotated[
        str, typer.Option(help="Proxies trusted for X-Forwarded-* headers (comma-separated, or *)")
    ] = "127.0.0.1",
) -> None:
    """Serve Carreau with uvicorn (httptools and uvloop)."""
    uvicorn.run(
        "app.main:create_app", factory=True, host=host, port=port, workers=workers, reload=reload,
        proxy_headers=True, forwarded_allow_ips=forwarded_allow_ips, access_log=False,
    )


def main() -> None:
    cli()
