"""A live Carreau server and a headless Chromium for each test session (each xdist worker has its own).

The server runs in a subprocess on a free port with its own SQLite database in a temporary
folder, migrated and seeded as an operator would (`carreau db upgrade`, `carreau seed demo`).
Chromium is Debian's (/usr/bin/chromium): Playwright never downloads a browser here."""

import itertools
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, Request, Response, sync_playwright
from sqlmodel import Session

from app.accounts import service as accounts
from app.core.clock import utcnow
from app.core.db import make_engine
from app.core.settings import Settings
from tests.browser.checks import AXE_SCRIPT, PROJECT_ROOT, PageProblems
from tests.support import unavailable

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOW_TO_ENABLE = "Install chromium (apt-get install chromium) and run npm ci"
STARTUP_TIMEOUT_S = 30.0  # ~2 s when the machine is idle; more while a full suite runs beside it
LAUNCH_TIMEOUT_MS = 60_000
CLI_TIMEOUT_S = 120.0
SERVER_ATTEMPTS = 3


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_env(var_dir: Path) -> dict[str, str]:
    # A developer's own CARREAU_* settings (a PostgreSQL URL, English by default…) must not leak in.
    env = {name: value for name, value in os.environ.items() if not name.startswith("CARREAU_")}
    env.update(
        CARREAU_VAR_DIR=str(var_dir),
        CARREAU_DATABASE_URL=f"sqlite:///{var_dir / 'carreau.db'}",
        CARREAU_SECRET_KEY="browser-tests-secret-key-0123456789abcdef",
        CARREAU_BASE_URL="http://127.0.0.1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH", "")])),
        PYTHONUNBUFFERED="1",
    )
    return env


def _carreau(env: dict[str, str], cwd: Path, *args: str) -> None:
    """Run the `carreau` command as an operator would."""
    command = [sys.executable, "-c", "from app.cli import main; main()", *args]
    result = subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=CLI_TIMEOUT_S, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"`carreau {' '.join(args)}` failed ({result.returncode}):\n{result.stdout}\n{result.stderr}",
            pytrace=False,
        )


def _healthy(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _server_failed(what: str, log_path: Path) -> NoReturn:
    log = log_path.read_text(errors="replace")[-4000:]
    pytest.fail(f"The Carreau server {what}; its output:\n{log}", pytrace=False)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a Carreau server with the demonstration data, for this session (or xdist worker)."""
    var_dir = tmp_path_factory.mktemp("carreau-var")
    env = _server_env(var_dir)
    # The working directory is the temporary folder, so a developer's .env is not read either.
    _carreau(env, var_dir, "db", "upgrade")
    _carreau(env, var_dir, "seed", "demo")
    log_path = var_dir / "server.log"
    with log_path.open("wb") as log:
        for _attempt in range(SERVER_ATTEMPTS):  # another process may take the free port first
            port = _free_port()
            base_url = f"http://127.0.0.1:{port}"
            process = subprocess.Popen(
                [
                    sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory",
                    "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
                ],
                env=env, cwd=var_dir, stdout=log, stderr=subprocess.STDOUT,
            )
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while time.monotonic() < deadline and process.poll() is None and not _healthy(base_url):
                time.sleep(0.1)
            if process.poll() is not None:
                continue  # it exited: the port was taken, or the application cannot start
            if _healthy(base_url):
                break
            _stop(process)
            _server_failed(f"did not answer /healthz within {STARTUP_TIMEOUT_S:.0f} s", log_path)
        else:
            _server_failed(f"exited at start {SERVER_ATTEMPTS} times", log_path)
        try:
            yield base_url
        finally:
            _stop(process)


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        unavailable(f"Browser tests skipped: {CHROMIUM} is missing", HOW_TO_ENABLE)
    if not AXE_SCRIPT.exists():
        axe = AXE_SCRIPT.relative_to(PROJECT_ROOT)
        unavailable(f"Browser tests skipped: {axe} is missing", HOW_TO_ENABLE)
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    browser = playwright_driver.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=LAUNCH_TIMEOUT_MS
    )
    try:
        yield browser
    finally:
        browser.close()


def _watch(page: Page, problems: PageProblems, base_url: str) -> None:
    """Record what a person would not see but a broken page shows: script errors, missing assets."""

    def on_console(message: ConsoleMessage) -> None:
        # Failed loads are judged by on_response, which knows a 404 page from a missing asset.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.console_errors.append(message.text)

    def on_response(response: Response) -> None:
        request = response.request
        # A 404 *page* is expected where the test asks for one; a missing stylesheet or script is not.
        ours = response.url.startswith(base_url)
        if ours and response.status >= 400 and request.resource_type != "document":
            problems.failed_requests.append(f"{response.status} {request.method} {response.url}")

    def on_request_failed(request: Request) -> None:
        if request.url.startswith(base_url):
            problems.failed_requests.append(f"{request.failure} {request.method} {request.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.page_errors.append(str(error)))
    page.on("response", on_response)
    page.on("requestfailed", on_request_failed)


@pytest.fixture
def page_problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def page(browser: Browser, live_server: str, page_problems: PageProblems) -> Iterator[Page]:
    """A fresh context (no cookies: French by default) and page; fails on script errors or missing assets."""
    context = browser.new_context(locale="fr-FR", base_url=live_server)
    context.set_default_timeout(5_000)
    page = context.new_page()
    _watch(page, page_problems, live_server)
    try:
        yield page
    finally:
        context.close()
    page_problems.assert_none()


@pytest.fixture
def page_without_js(browser: Browser, live_server: str, page_problems: PageProblems) -> Iterator[Page]:
    """The same with JavaScript turned off: every feature must work as plain HTML forms and links."""
    context = browser.new_context(locale="fr-FR", base_url=live_server, java_script_enabled=False)
    context.set_default_timeout(5_000)
    page = context.new_page()
    _watch(page, page_problems, live_server)
    try:
        yield page
    finally:
        context.close()
    page_problems.assert_none()


# --- Accounts on the live server (tests/browser/test_accounts.py)

RESIDENT_PASSWORD = "trois petits chats dans la cour"
TERMS_VERSION = Settings.model_fields["terms_version"].default  # the live server's: it has no CARREAU_TERMS_VERSION


@dataclass(frozen=True)
class Resident:
    """A person who can sign in on the live server with their address and password."""

    email: str
    password: str
    name: str


@pytest.fixture(scope="session")
def live_database_url(live_server: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The live server's database: the one in the folder `live_server` made for this session."""
    # `mktemp` numbers the folder (carreau-var0) and links carreau-varcurrent to it.
    folders = sorted({db.parent.resolve() for db in tmp_path_factory.getbasetemp().glob("carreau-var*/carreau.db")})
    if len(folders) != 1:
        pytest.fail(f"expected the live server's one database folder, found {folders}", pytrace=False)
    return _server_env(folders[0])["CARREAU_DATABASE_URL"]


@pytest.fixture(scope="session")
def create_resident(live_database_url: str) -> Iterator[Callable[..., Resident]]:
    """Make an account on the live server as `carreau users create EMAIL --name NAME --password-stdin
    [--commune-of-residence INSEE]` does (confirmed address), in-process for speed; `onboarded`
    also accepts the terms as the person would on /compte/bienvenue (the CLI leaves that to them)."""
    engine = make_engine(live_database_url)
    numbers = itertools.count(1)

    def create(*, name: str = "Camille", commune: str | None = "62510", onboarded: bool = True) -> Resident:
        email = f"habitant{next(numbers)}.{uuid.uuid4().hex[:8]}@example.org"
        now = utcnow()
        with Session(engine) as session:
            user = accounts.create_user(session, display_name=name, email=email, password=RESIDENT_PASSWORD,
                                        is_email_confirmed=True, commune_insee=commune, now=now)
            if commune:
                user.verification_level = "declared"
                if onboarded:
                    accounts.complete_onboarding(session, user, commune_insee=commune, birth_year=None,
                                                 accepts_terms=True, terms_version=TERMS_VERSION,
                                                 now=now)
            session.commit()
        return Resident(email=email, password=RESIDENT_PASSWORD, name=name)

    try:
        yield create
    finally:
        engine.dispose()


# --- Consultations put to the vote on the live server (tests/browser/test_voting.py)


@dataclass(frozen=True)
class LiveConsultation:
    """A consultation made on the live server, with its proposals' titles in submission order."""

    slug: str
    titles: list[str]


@pytest.fixture(scope="session")
def create_consultation(live_database_url: str) -> Iterator[Callable[..., LiveConsultation]]:
    """Make a published consultation on the live server, in `phase` today, with a proposal per
    title (costs for a budget) and the ballots or supports of other residents cast during its
    voting phase through the services: `votes` holds one entry per voter, {proposal index: grade}
    for majority judgment, a list of proposal indexes for a budget or supports."""
    from datetime import timedelta

    from app.voting import service as supports
    from app.voting.ballots import cast_ballot
    from tests.factories import make_consultation, make_proposal, make_user

    engine = make_engine(live_database_url)

    def create(*, method: str, titles: list[str], phase: str = "voting", costs: list[int] | None = None,
               votes: list | None = None, **fields: object) -> LiveConsultation:
        now = utcnow()
        with Session(engine) as session:
            consultation = make_consultation(session, phase=phase, voting_method=method, now=now, **fields)
            author = make_user(session, name="Rémi Delattre", now=now)
            made = [make_proposal(session, consultation, author, title=title,
                                  now=consultation.proposals_starts_at + timedelta(hours=n),
                                  estimated_cost=costs[n] if costs else None)
                    for n, title in enumerate(titles)]
            for n, vote in enumerate(votes or []):
                voter = accounts.load_principal(session, make_user(session, now=now))
                moment = consultation.voting_starts_at + timedelta(minutes=n + 1)
                if method == "majority_judgment":
                    grades = {made[index].id or 0: grade for index, grade in vote.items()}
                    cast_ballot(session, voter, consultation, grades=grades, now=moment)
                elif method == "budget":
                    cast_ballot(session, voter, consultation, proposal_ids=[made[i].id or 0 for i in vote], now=moment)
                else:
                    for index in vote:
                        supports.add_support(session, voter, made[index], now=moment)
            session.commit()
            return LiveConsultation(consultation.slug, list(titles))

    try:
        yield create
    finally:
        engine.dispose()
