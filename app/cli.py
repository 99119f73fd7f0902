"""The `carreau` command: database migrations, seed data and the server."""

from typing import Annotated

import typer
import uvicorn
from alembic import command
from alembic.config import Config
from sqlmodel import Session

from app.core.db import make_engine
from app.core.settings import PROJECT_ROOT, get_settings
from app.territory import seed as territory_seed

cli = typer.Typer(help="Carreau, la plateforme de participation du Bassin minier.", no_args_is_help=True)
db_cli = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
seed_cli = typer.Typer(help="Reference and demonstration data.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(seed_cli, name="seed")


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
    """Everything a demonstration needs: the territory and axes (later: demo consultations)."""
    seed_territory()


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
