"""Crashes (SECURITY-NOTES C1, C2, C3): the real server, on SQLite and on PostgreSQL, killed with
SIGKILL in the middle of a stream of votes, then restarted. Every acknowledged vote is there, none is
doubled, the counters agree with the rows, a ballot being replaced is whole (the last acknowledged one or
a later attempt, B6) and the database passes its own integrity checks. The same
for an export killed halfway: no partial file under the name of a finished one.

Slow (real servers, restarts): marked `slow`; `pytest -m slow tests/security` runs them alone."""

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import Role
from app.consultations.models import Consultation
from app.core.db import make_engine
from app.proposals.models import Proposal
from app.proposals.search import search_text_of
from app.territory.seed import load_axes, load_territory
from tests.factories import make_consultation, make_proposal, make_user
from tests.support import create_database, database_name, drop_database, migrate, postgres_base_url, worker_id

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
SECRET = "crash-test-secret-" + "x" * 32
VOTERS = 24
PROPOSALS = 8
CLIENTS = 8
KILL_POINTS = (0.1, 0.25, 0.4, 0.55, 0.7)  # share of the votes acknowledged when the server is killed
STARTUP_S = 60.0


# --- databases and servers


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own (the server commits for real), migrated, with the territory."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'crash.db'}"
        base = name = ""
    else:
        base = postgres_base_url()
        name = database_name(base, f"{worker_id()}_crash")
        url = create_database(base, name)
    engine = make_engine(url)
    try:
        migrate(engine)
        with Session(engine) as session:
            load_territory(session)
            load_axes(session)
            session.commit()
    finally:
        engine.dispose()
    yield url
    if name:
        drop_database(base, name)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    """`python -m uvicorn app.main:create_app --factory` in a process group of its own."""

    database_url: str
    var_dir: Path
    process: subprocess.Popen | None = None
    port: int = 0
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        self.log = self.var_dir / "server.log"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CARREAU_")}
        env.update(CARREAU_DATABASE_URL=self.database_url, CARREAU_SECRET_KEY=SECRET,
                   CARREAU_VAR_DIR=str(self.var_dir), CARREAU_PAGE_CACHE_SECONDS="0")
        return env

    def start(self, workers: int = 1) -> None:
        """Start and wait until it answers; with workers > 1, several processes share the database."""
        for _attempt in range(3):  # another process may take the free port first
            self.port = free_port()
            with self.log.open("ab") as log:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--host", HOST,
                     "--port", str(self.port), "--workers", str(workers), "--no-access-log", "--log-level",
                     "warning"],
                    cwd=ROOT, env=self.environment(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                )
            deadline = time.monotonic() + STARTUP_S
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    if httpx2.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                        return
                except httpx2.HTTPError:
                    pass
                time.sleep(0.2)
            self.kill()
        raise AssertionError(f"the server did not start: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL to the whole process group: no shutdown handler, no flush, no rollback."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    server = Server(database_url, tmp_path / "var")
    try:
        yield server
    finally:
        server.kill()


# --- the data


@dataclass
class Ballots:
    consultation_id: int
    proposal_ids: list[int]
    voters: dict[str, int]  # Authorization header value → user id
    admin: str  # an admin's Authorization header value


def prepare(database_url: str) -> Ballots:
    """A consultation in its voting phase (by the real clock: the server runs on it), proposals,
    residents with personal access tokens."""
    now = datetime.now(UTC)
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            consultation = make_consultation(session, phase="voting", now=now)
            author = make_user(session, now=now)
            proposals = [make_proposal(session, consultation, author, now=now) for _ in range(PROPOSALS)]
            voters: dict[str, int] = {}
            for _ in range(VOTERS):
                user = make_user(session, now=now)
                _token, raw = accounts.create_access_token(session, user, name="crash", now=now)
                voters[f"Bearer {raw}"] = user.id or 0
            admin = make_user(session, now=now)
            accounts.grant_role(session, admin, Role.admin, now=now)
            _token, raw = accounts.create_access_token(session, admin, name="crash", now=now)
            session.commit()
            return Ballots(consultation.id or 0, [p.id or 0 for p in proposals], voters, f"Bearer {raw}")
    finally:
        engine.dispose()


# --- the stream of votes


@dataclass
class Stream:
    acknowledged: set[tuple[int, int]] = field(default_factory=set)  # (voter id, proposal id)
    lock: threading.Lock = field(default_factory=threading.Lock)


def send_votes(server: Server, ballots: Ballots, pairs: list[tuple[str, int]], stream: Stream,
               kill_after: int | None) -> list[tuple[str, int]]:
    """Send the votes from CLIENTS threads; with `kill_after`, SIGKILL the server once that many
    more votes are acknowledged. Returns the votes whose outcome is unknown or that were not sent."""
    queue = list(pairs)
    unsent: list[tuple[str, int]] = []
    start = len(stream.acknowledged)
    enough = threading.Event()
    taking = threading.Lock()

    def client() -> None:
        with httpx2.Client(base_url=server.url, timeout=30) as http:
            while True:
                with taking:
                    if not queue:
                        return
                    pair = queue.pop()
                authorization, proposal_id = pair
                try:
                    response = http.put(f"/api/v1/proposals/{proposal_id}/support",
                                        headers={"Authorization": authorization})
                except httpx2.HTTPError:  # the server died: this one and the rest are unknown
                    with taking:
                        unsent.append(pair)
                        unsent.extend(queue)
                        queue.clear()
                    return
                assert response.status_code == 200, response.text
                assert response.json()["supported"] is True
                with stream.lock:
                    stream.acknowledged.add((ballots.voters[authorization], proposal_id))
                    if kill_after is not None and len(stream.acknowledged) - start >= kill_after:
                        enough.set()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    if kill_after is not None:
        enough.wait(timeout=120)
        server.kill()
    for thread in threads:
        thread.join(timeout=120)
    return unsent


# --- what must hold after a crash


def check_database(database_url: str, ballots: Ballots, acknowledged: set[tuple[int, int]]) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as db:
            rows = db.execute(text(
                "SELECT voter_id, proposal_id, count(*) FROM support_vote WHERE consultation_id = :c "
                "GROUP BY voter_id, proposal_id"), {"c": ballots.consultation_id}).all()
            doubled = [row for row in rows if row[2] != 1]
            assert doubled == [], f"votes doubled: {doubled}"
            stored = {(voter, proposal) for voter, proposal, _n in rows}
            lost = acknowledged - stored
            assert not lost, f"{len(lost)} acknowledged votes lost, e.g. {sorted(lost)[:5]}"
            counters = db.execute(text(
                "SELECT p.id, p.supports_count, (SELECT count(*) FROM support_vote v WHERE v.proposal_id = p.id) "
                "FROM proposal p WHERE p.consultation_id = :c"), {"c": ballots.consultation_id}).all()
            wrong = [row for row in counters if row[1] != row[2]]
            assert wrong == [], f"proposal.supports_count differs from the rows: {wrong}"
            used = db.execute(text(
                "SELECT p.voter_id, p.supports_used, (SELECT count(*) FROM support_vote v "
                "WHERE v.voter_id = p.voter_id AND v.consultation_id = p.consultation_id) "
                "FROM participation p WHERE p.consultation_id = :c"), {"c": ballots.consultation_id}).all()
            wrong = [row for row in used if row[1] != row[2]]
            assert wrong == [], f"participation.supports_used differs from the rows: {wrong}"
            without = {voter for voter, _p in stored} - {row[0] for row in used}
            assert not without, f"votes without their participation row: {without}"
        integrity_checks(engine)
    finally:
        engine.dispose()


def integrity_checks(engine: Engine) -> None:
    """The database's own checks: SQLite's integrity and foreign-key checks; PostgreSQL's amcheck
    on every B-tree index (unique ones included: a duplicate key would show there)."""
    with engine.connect() as db:
        if engine.dialect.name == "sqlite":
            assert db.execute(text("PRAGMA integrity_check")).scalars().all() == ["ok"]
            assert db.execute(text("PRAGMA foreign_key_check")).all() == []
            return
        db.execute(text("CREATE EXTENSION IF NOT EXISTS amcheck"))
        indexes = db.execute(text(
            "SELECT c.oid::regclass::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_am a ON a.oid = c.relam JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE a.amname = 'btree' AND n.nspname = 'public' AND i.indisvalid")).scalars().all()
        assert indexes
        for index in indexes:
            db.execute(text("SELECT bt_index_check(CAST(:i AS regclass), true)"), {"i": index})
        # Foreign keys PostgreSQL enforces itself; check the ones of the votes anyway (cheap).
        orphans = db.execute(text(
            "SELECT count(*) FROM support_vote v LEFT JOIN proposal p ON p.id = v.proposal_id "
            "LEFT JOIN user_account u ON u.id = v.voter_id "
            "WHERE p.id IS NULL OR (v.voter_id IS NOT NULL AND u.id IS NULL)")).scalar()
        assert orphans == 0
        db.commit()


def durability_settings(database_url: str) -> dict[str, str]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as db:
            if engine.dialect.name == "sqlite":
                return {name: str(db.execute(text(f"PRAGMA {name}")).scalar())
                        for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")}
            return {name: str(db.execute(text(f"SHOW {name}")).scalar())
                    for name in ("fsync", "synchronous_commit", "full_page_writes")}
    finally:
        engine.dispose()


def test_durability_settings(database_url: str) -> None:
    """C3: what a crash test cannot see (a power cut) is left to the settings: SQLite in WAL with
    synchronous=FULL (NORMAL may lose the last commits on power loss), PostgreSQL with fsync."""
    found = durability_settings(database_url)
    if database_url.startswith("sqlite"):
        assert found["journal_mode"] == "wal"
        assert found["synchronous"] == "2", "PRAGMA synchronous must be FULL (2)"
        assert found["foreign_keys"] == "1"
        assert int(found["busy_timeout"]) > 0
    else:
        assert found == {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


def test_votes_survive_sigkill(server: Server, database_url: str) -> None:
    ballots = prepare(database_url)
    pairs = [(authorization, proposal_id) for authorization in ballots.voters for proposal_id in ballots.proposal_ids]
    random.Random(9).shuffle(pairs)
    stream = Stream()
    pending = pairs
    for round_number, share in enumerate(KILL_POINTS):
        server.start(workers=1 + round_number % 2)  # one process, then two sharing the database
        target = max(1, int(len(pairs) * share) - len(stream.acknowledged))
        pending = send_votes(server, ballots, pending, stream, kill_after=target)
        assert server.process is None  # killed mid-stream
        assert pending, "the stream ended before the kill: send more votes"
        check_database(database_url, ballots, stream.acknowledged)

    # Restarted, the server takes the votes left and the retries of those whose answer was lost:
    # a retry changes nothing (idempotent), so each vote is there exactly once.
    server.start()
    retries = [(a, p) for a, p in pairs if (ballots.voters[a], p) in stream.acknowledged][:20]
    assert send_votes(server, ballots, pending + retries, stream, kill_after=None) == []
    everything = {(ballots.voters[a], p) for a, p in pairs}
    assert stream.acknowledged == everything
    check_database(database_url, ballots, everything)
    with httpx2.Client(base_url=server.url) as http:  # and the API counts them all
        authorization, proposal_id = pairs[0]
        response = http.put(f"/api/v1/proposals/{proposal_id}/support", headers={"Authorization": authorization})
        assert response.json()["supports"] == VOTERS
    server.kill()
    check_database(database_url, ballots, everything)


# --- ballots replaced while the server dies


GRADES = ("excellent", "tres_bien", "bien", "assez_bien", "passable", "insuffisant", "a_rejeter")


def test_ballot_replacements_survive_sigkill(server: Server, database_url: str) -> None:
    """Residents re-submit their majority-judgment ballot again and again (each from one client, in
    order) while the server is killed: afterwards each has one whole ballot, never none after an
    acknowledged one, never two, never a mix: the last acknowledged one or a later attempt."""
    now = datetime.now(UTC)
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            consultation = make_consultation(session, phase="voting", voting_method="majority_judgment", now=now)
            author = make_user(session, now=now)
            proposal_ids = [make_proposal(session, consultation, author, now=now).id or 0 for _ in range(4)]
            voters: dict[str, int] = {}
            for _ in range(CLIENTS * 2):
                user = make_user(session, now=now)
                _token, raw = accounts.create_access_token(session, user, name="crash", now=now)
                voters[f"Bearer {raw}"] = user.id or 0
            consultation_id = consultation.id or 0
            session.commit()
    finally:
        engine.dispose()

    rng = random.Random(5)
    plans = {a: [{str(p): rng.choice(GRADES) for p in proposal_ids} for _ in range(12)] for a in voters}
    outcomes: dict[str, list[tuple[dict[str, str], bool | None]]] = {a: [] for a in voters}  # None: unknown
    acknowledged = [0]
    lock = threading.Lock()
    enough = threading.Event()
    server.start()

    def client(mine: list[str]) -> None:
        with httpx2.Client(base_url=server.url, timeout=30) as http:
            for step in range(12):
                for authorization in mine:
                    grades = plans[authorization][step]
                    try:
                        response = http.put(f"/api/v1/consultations/{consultation_id}/ballot",
                                            headers={"Authorization": authorization}, json={"grades": grades})
                    except httpx2.HTTPError:
                        outcomes[authorization].append((grades, None))
                        return
                    assert response.status_code == 200, response.text
                    assert response.json()["grades"] == grades
                    outcomes[authorization].append((grades, True))
                    with lock:
                        acknowledged[0] += 1
                        if acknowledged[0] >= len(voters) * 5:
                            enough.set()

    authorizations = list(voters)
    threads = [threading.Thread(target=client, args=(authorizations[i::CLIENTS],), daemon=True)
               for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    enough.wait(timeout=120)
    server.kill()
    for thread in threads:
        thread.join(timeout=60)
    assert any(result is None for sent in outcomes.values() for _g, result in sent), "killed after the stream"

    engine = make_engine(database_url)
    try:
        with engine.connect() as db:
            stored: dict[int, list[tuple[int, dict[str, str]]]] = {}
            for ballot_id, voter_id in db.execute(text(
                    "SELECT id, voter_id FROM ballot WHERE consultation_id = :c"), {"c": consultation_id}):
                grades = {str(p): g for p, g in db.execute(text(
                    "SELECT proposal_id, grade FROM ballot_grade WHERE ballot_id = :b"), {"b": ballot_id})}
                stored.setdefault(voter_id, []).append((ballot_id, grades))
        integrity_checks(engine)
    finally:
        engine.dispose()
    for authorization, sent in outcomes.items():
        ballots_of = stored.get(voters[authorization], [])
        assert len(ballots_of) <= 1, f"two ballots for one resident: {ballots_of}"
        acked = [i for i, (_g, result) in enumerate(sent) if result]
        allowed = [g for i, (g, _r) in enumerate(sent) if not acked or i >= acked[-1]]
        if not ballots_of:
            assert not acked, "an acknowledged ballot is gone"
            continue
        grades = ballots_of[0][1]
        assert len(grades) == len(proposal_ids), f"a partial ballot: {grades}"
        assert grades in allowed, "the stored ballot is neither the last acknowledged one nor a later attempt"


# --- exports


def add_many_proposals(database_url: str, consultation_id: int, author_id: int, count: int) -> None:
    now = datetime.now(UTC)
    body = "Une proposition assez longue pour que l’export prenne un peu de temps. " * 8
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            rows = [
                {"consultation_id": consultation_id, "author_id": author_id, "title": f"Proposition en masse {n}",
                 "body": body, "body_html": f"<p>{body}</p>", "search_text": search_text_of(f"masse {n}", ""),
                 "created_at": now, "updated_at": now}
                for n in range(count)
            ]
            for start in range(0, count, 2000):
                session.execute(Proposal.__table__.insert(), rows[start:start + 2000])  # type: ignore[attr-defined]
            session.commit()
    finally:
        engine.dispose()


def run_export(server: Server, consultation_id: int, out: Path) -> subprocess.Popen:
    """`carreau export` in a process group of its own (its output in the server's log)."""
    with server.log.open("ab") as log:
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "carreau"), "export", str(consultation_id), "--out", str(out),
             "--format", "csv", "--what", "all"],
            cwd=ROOT, env=server.environment(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )


def test_export_killed_halfway_leaves_no_partial_file(server: Server, database_url: str, tmp_path: Path) -> None:
    ballots = prepare(database_url)
    engine = make_engine(database_url)
    with Session(engine) as session:
        author_id = session.exec(select(Proposal.author_id).where(
            Proposal.consultation_id == ballots.consultation_id)).first()
        assert session.get(Consultation, ballots.consultation_id) is not None
    engine.dispose()
    out = tmp_path / "export.zip"

    # A first export, complete: what a reader of `out` may rely on.
    first = run_export(server, ballots.consultation_id, out)
    assert first.wait(timeout=300) == 0, server.log.read_text()[-3000:]
    complete = out.read_bytes()
    assert zipfile.ZipFile(out).testzip() is None

    # A second, much bigger one, killed while it writes.
    add_many_proposals(database_url, ballots.consultation_id, author_id or 0, 30_000)
    second = run_export(server, ballots.consultation_id, out)
    deadline = time.monotonic() + 300
    partials: list[Path] = []
    while time.monotonic() < deadline and second.poll() is None:
        partials = [p for p in tmp_path.iterdir() if p.name not in (out.name, "var") and p.stat().st_size > 0]
        if partials:
            break
        time.sleep(0.01)
    assert second.poll() is None, "the export finished before it could be killed: give it more rows"
    os.killpg(second.pid, signal.SIGKILL)
    second.wait(timeout=30)

    # The file under the final name is still the complete one; what was being written is elsewhere,
    # under a name that does not pass for the export.
    assert out.read_bytes() == complete
    assert zipfile.ZipFile(out).testzip() is None
    leftovers = [p for p in tmp_path.iterdir() if p.name not in (out.name, "var")]
    assert leftovers, "the export wrote nowhere before being killed"
    for leftover in leftovers:
        assert not leftover.name.endswith(".zip"), f"{leftover.name} looks like a finished export"

    # And the same without a previous file: nothing at all under the final name.
    out.unlink()
    for leftover in leftovers:
        leftover.unlink()
    third = run_export(server, ballots.consultation_id, out)
    while third.poll() is None and not any(p.name not in (out.name, "var") for p in tmp_path.iterdir()):
        time.sleep(0.01)
    time.sleep(0.2)
    if third.poll() is None:
        os.killpg(third.pid, signal.SIGKILL)
        third.wait(timeout=30)
        assert not out.exists()
    else:  # finished meanwhile: then it must be whole
        assert third.returncode == 0
        assert zipfile.ZipFile(out).testzip() is None


def test_download_cut_by_a_crash_is_seen_as_incomplete(server: Server, database_url: str) -> None:
    """The export over HTTP streams: when the server dies halfway, the client gets a transfer error,
    never a clean end of file that would pass for the whole export."""
    ballots = prepare(database_url)
    engine = make_engine(database_url)
    with Session(engine) as session:
        author_id = session.exec(select(Proposal.author_id).where(
            Proposal.consultation_id == ballots.consultation_id)).first()
    engine.dispose()
    add_many_proposals(database_url, ballots.consultation_id, author_id or 0, 30_000)
    server.start()
    received = [0]

    def read_while_the_server_dies() -> None:
        with http.stream("GET", f"/api/v1/consultations/{ballots.consultation_id}/export",
                         params={"format": "csv", "what": "proposals"},
                         headers={"Authorization": ballots.admin}) as response:
            assert response.status_code == 200, response.read()
            for chunk in response.iter_bytes():
                received[0] += len(chunk)
                if received[0] > 64 * 1024 and server.process is not None:
                    server.kill()

    with httpx2.Client(base_url=server.url, timeout=60) as http, pytest.raises(httpx2.HTTPError):
        read_while_the_server_dies()
    assert received[0] > 64 * 1024
