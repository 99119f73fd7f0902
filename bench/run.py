"""Drive Carreau on 127.0.0.1 with wrk over a data set made by bench/generate, and print the table.

    python -m bench.run --database-url postgresql://postgres@127.0.0.1:5432/carreau_bench

What it does, in one session:
1. prepares benchmark voters (residents of their own, with personal access tokens, who have voted
   on nothing yet, so that every acknowledged vote is a new row that can be counted afterwards);
2. starts Carreau the way production runs it: uvicorn with httptools and uvloop (`uvicorn[standard]`,
   which PERF-NOTES shows is ten times the pure-Python stack here), several worker processes
   (`--workers`, default 2: one per core), no access log; then the baseline (bench/baseline.py) on
   the same server settings, answering a constant page the size of the consultation page;
3. runs each scenario with wrk (`--runs` times, default 3, reporting the median run by requests/s),
   every run bounded by `--duration` and aimed at 127.0.0.1 only;
4. measures PostgreSQL's own rate of single-row `INSERT … ON CONFLICT DO NOTHING` commits with
   pgbench (same number of connections), the results computation of the largest majority-judgment
   consultation, and the CSV export of its ballots (rows/s and peak memory, in a child process);
5. checks that the database holds exactly the votes that were acknowledged;
6. prints a Markdown table and writes every figure as JSON (`--out`)."""

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, text
from sqlmodel import Session

from app.accounts.models import AccessToken, User
from app.accounts.service import TOKEN_PREFIX, digest
from app.consultations.models import Consultation
from app.core.db import make_engine
from app.proposals.models import Proposal
from app.voting.models import Ballot, BallotGrade, SupportVote

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # load only ever targets this machine
VOTER_EMAIL = "bench-voter-{n}@bench.carreau.invalid"
WARMUP_OFFSET = 70_000_000  # the warm-up runs' votes: apart from the measured runs' and the exactness checks'
SEARCH_WORDS = ("jardin", "piste cyclable", "terril", "école", "médiathèque", "rénovation", "vélo", "santé")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Row:
    name: str
    requests_per_second: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int | None = None
    requests: int | None = None
    baseline: str | None = None  # the name of the row it is compared with
    ratio: float | None = None
    note: str = ""
    runs: list[dict[str, Any]] = field(default_factory=list)


# --- preparing the data


def slug_ids(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        rows = session.execute(select(Consultation.slug, Consultation.id).where(Consultation.slug.like("bench-%")))
        return {slug: cid for slug, cid in rows}


def prepare_voters(engine: Engine, count: int) -> list[str]:
    """`count` residents of Lens who have never voted, each with a fresh personal access token
    (the raw tokens are returned for the Lua scripts; only their hashes are stored)."""
    now = datetime.now(UTC)
    tokens: list[str] = []
    with Session(engine) as session:
        existing = {email: uid for email, uid in session.execute(
            select(User.email, User.id).where(User.email.like("bench-voter-%"))
        )}
        new_users = [
            {"display_name": f"Votant {n}", "email": VOTER_EMAIL.format(n=n), "is_email_confirmed": True,
             "commune_insee": "62498", "birth_year": 1950 + n % 55, "verification_level": "verified",
             "is_identity_verified": False, "terms_version": "bench", "terms_accepted_at": now, "created_at": now}
            for n in range(count) if VOTER_EMAIL.format(n=n) not in existing
        ]
        if new_users:
            session.execute(User.__table__.insert(), new_users)  # type: ignore[attr-defined]
        ids = [uid for _, uid in session.execute(
            select(User.email, User.id).where(User.email.like("bench-voter-%")).order_by(User.id)
        )][:count]
        session.execute(AccessToken.__table__.delete().where(AccessToken.name == "bench"))  # type: ignore[attr-defined]
        rows = []
        for uid in ids:
            raw = TOKEN_PREFIX + secrets.token_urlsafe(24)
            tokens.append(raw)
            rows.append({"user_id": uid, "name": "bench", "token_hash": digest(raw), "prefix": raw[:12],
                         "created_at": now})
        session.execute(AccessToken.__table__.insert(), rows)  # type: ignore[attr-defined]
        session.commit()
    return tokens


def voter_votes(engine: Engine, consultation_ids: dict[str, int]) -> dict[str, int]:
    """Votes and ballots of the benchmark voters (to compare with what was acknowledged)."""
    with Session(engine) as session:
        voters = select(User.id).where(User.email.like("bench-voter-%")).scalar_subquery()
        supports = session.execute(
            select(func.count()).select_from(SupportVote).where(SupportVote.voter_id.in_(voters))
        ).scalar_one()
        ballots = session.execute(
            select(func.count()).select_from(Ballot).where(
                Ballot.voter_id.in_(voters), Ballot.consultation_id == consultation_ids["bench-jugement-vote"])
        ).scalar_one()
        grades = session.execute(
            select(func.count()).select_from(BallotGrade).join(Ballot, Ballot.id == BallotGrade.ballot_id).where(
                Ballot.voter_id.in_(voters), Ballot.consultation_id == consultation_ids["bench-jugement-vote"])
        ).scalar_one()
        counted = session.execute(
            select(func.coalesce(func.sum(Proposal.supports_count), 0))
            .where(Proposal.consultation_id == consultation_ids["bench-soutiens"])
        ).scalar_one()
        rows = session.execute(
            select(func.count()).select_from(SupportVote)
            .where(SupportVote.consultation_id == consultation_ids["bench-soutiens"])
        ).scalar_one()
    return {"supports": supports, "ballots": ballots, "grades": grades, "supports_counter": counted,
            "support_rows": rows}


def proposal_ids(engine: Engine, consultation_id: int, limit: int | None = None) -> list[int]:
    with Session(engine) as session:
        query = (select(Proposal.id).where(Proposal.consultation_id == consultation_id,
                                           Proposal.state == "published").order_by(Proposal.id))
        if limit:
            query = query.limit(limit)
        return list(session.execute(query).scalars())


def most_supported(engine: Engine, consultation_id: int, count: int) -> list[int]:
    with Session(engine) as session:
        return list(session.execute(
            select(Proposal.id).where(Proposal.consultation_id == consultation_id, Proposal.state == "published")
            .order_by(Proposal.supports_count.desc(), Proposal.id).limit(count)
        ).scalars())


# --- servers


@contextmanager
def server(target: str, *, port: int, workers: int, env: dict[str, str], factory: bool) -> Iterator[None]:
    command = [sys.executable, "-m", "uvicorn", target, "--host", HOST, "--port", str(port), "--workers",
               str(workers), "--http", "httptools", "--loop", "uvloop", "--no-access-log", "--log-level", "warning",
               "--backlog", "2048"]
    if factory:
        command.append("--factory")
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://{HOST}:{port}/healthz" if factory else f"http://{HOST}:{port}/",
                                            timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{target} did not start on port {port}") from None
                time.sleep(0.3)
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# --- wrk

LUA_COMMON = r"""
local threads = {}
local thread_count = 0
function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end
local counter = 0
function next_k()
  local k = OFFSET + counter * THREADS + tid
  counter = counter + 1
  return k
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def lua_list(values: list[Any]) -> str:
    return "{" + ",".join(json.dumps(v) for v in values) + "}"


def script_get(paths: list[str], *, threads: int, offset: int = 0) -> str:
    return (f"OFFSET = {offset}\nTHREADS = {threads}\nlocal paths = {lua_list(paths)}\n" + LUA_COMMON + r"""
function request()
  local k = next_k()
  return wrk.format("GET", paths[(k % #paths) + 1])
end
""")


def script_supports(tokens: list[str], proposals: list[int], *, threads: int, offset: int) -> str:
    """Request k: voter k mod T supports proposal ((k div T) + 7919 · (k mod T)) mod P: every
    request a new vote (for one voter, k div T tells the votes apart), and requests in flight
    together go to different voters AND different proposals, as many residents voting at once do
    (a plain (k div T) sent T consecutive votes to one proposal: a measure of one hot row)."""
    return (f"OFFSET = {offset}\nTHREADS = {threads}\nlocal tokens = {lua_list(tokens)}\n"
            f"local proposals = {lua_list(proposals)}\n" + LUA_COMMON + r"""
function request()
  local k = next_k()
  local token = tokens[(k % #tokens) + 1]
  local proposal = proposals[((math.floor(k / #tokens) + 7919 * (k % #tokens)) % #proposals) + 1]
  return wrk.format("PUT", "/api/v1/proposals/" .. proposal .. "/support",
    {["Authorization"] = "Bearer " .. token, ["Content-Length"] = "0"})
end
""")


def script_ballots(tokens: list[str], consultation_id: int, proposals: list[int], *, threads: int,
                   offset: int) -> str:
    grades = ["excellent", "tres_bien", "bien", "assez_bien", "passable", "insuffisant", "a_rejeter"]
    return (f"OFFSET = {offset}\nTHREADS = {threads}\nlocal tokens = {lua_list(tokens)}\n"
            f"local proposals = {lua_list(proposals)}\nlocal grades = {lua_list(grades)}\n" + LUA_COMMON + r"""
function request()
  local k = next_k()
  local token = tokens[(k % #tokens) + 1]
  local parts = {}
  for i, p in ipairs(proposals) do
    parts[#parts + 1] = '"' .. p .. '": "' .. grades[((k + i) % #grades) + 1] .. '"'
  end
  local body = '{"grades": {' .. table.concat(parts, ", ") .. '}}'
  return wrk.format("PUT", "/api/v1/consultations/""" + str(consultation_id) + r"""/ballot",
    {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
end
""")


def run_wrk(url: str, script: str, *, duration: int, connections: int, threads: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
        path = handle.name
    try:
        completed = subprocess.run(
            ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--timeout", "5s", "-s", path,
             url], capture_output=True, text=True, timeout=duration + 60, check=True,
        )
    finally:
        os.unlink(path)
    match = re.search(r"BENCH_JSON (\{.*\})", completed.stdout)
    if not match:
        raise RuntimeError(f"wrk gave no figures:\n{completed.stdout}\n{completed.stderr}")
    figures = json.loads(match.group(1))
    errors = sum(figures[key] for key in ("connect", "read", "write", "status", "timeout"))
    return {"rps": figures["requests"] / (figures["duration_us"] / 1e6), "p50_ms": figures["p50_us"] / 1000,
            "p99_ms": figures["p99_us"] / 1000, "errors": errors, "requests": figures["requests"]}


def measure(name: str, url: str, scripts: list[str], *, duration: int, connections: int, threads: int,
            warmup: str | None = None) -> Row:
    """One wrk run per script (each run its own requests), the median run by requests/s reported.
    First a short warm-up run, not counted (`warmup`, else the first script): the first requests of
    a scenario fill the page caches and the statement caches, and made the first run's p99."""
    run_wrk(url, warmup or scripts[0], duration=min(3, duration), connections=connections, threads=threads)
    runs = []
    for script in scripts:
        runs.append(run_wrk(url, script, duration=duration, connections=connections, threads=threads))
        log(f"{name}: {runs[-1]['rps']:.0f} req/s, p50 {runs[-1]['p50_ms']:.1f} ms, "
            f"p99 {runs[-1]['p99_ms']:.1f} ms, {runs[-1]['errors']} errors")
    median = sorted(runs, key=lambda run: run["rps"])[len(runs) // 2]
    return Row(name, round(median["rps"], 1), round(median["p50_ms"], 2), round(median["p99_ms"], 2),
               sum(run["errors"] for run in runs), sum(run["requests"] for run in runs), runs=runs)


# --- measurements outside wrk


def pgbench_inserts(database_url: str, *, connections: int, duration: int, runs: int) -> Row:
    """PostgreSQL's own rate for one-row INSERT … ON CONFLICT DO NOTHING transactions."""
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS bench_pgbench_vote"))
        connection.execute(text("CREATE TABLE bench_pgbench_vote (user_id integer NOT NULL, proposal_id integer NOT "
                                "NULL, cast_at timestamptz NOT NULL DEFAULT now(), UNIQUE (user_id, proposal_id))"))
    url = engine.url
    engine.dispose()
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
        handle.write("\\set u random(1, 10000000)\n\\set p random(1, 50000)\n"
                     "INSERT INTO bench_pgbench_vote (user_id, proposal_id) VALUES (:u, :p) ON CONFLICT DO NOTHING;\n")
        script = handle.name
    results = []
    try:
        for _ in range(runs):
            completed = subprocess.run(
                ["pgbench", "-n", "-c", str(connections), "-j", "2", "-T", str(duration), "-f", script,
                 "-h", url.host or HOST, "-p", str(url.port or 5432), "-U", url.username or "postgres",
                 url.database or "postgres"],
                capture_output=True, text=True, check=True, timeout=duration + 60,
            )
            tps = float(re.search(r"tps = ([\d.]+)", completed.stdout).group(1))  # type: ignore[union-attr]
            latency = float(re.search(r"latency average = ([\d.]+) ms", completed.stdout).group(1))  # type: ignore[union-attr]
            results.append({"rps": tps, "latency_ms": latency})
            log(f"pgbench: {tps:.0f} tps, {latency:.2f} ms average")
    finally:
        os.unlink(script)
        engine = make_engine(database_url)
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS bench_pgbench_vote"))
        engine.dispose()
    median = sorted(results, key=lambda r: r["rps"])[len(results) // 2]
    return Row("PostgreSQL alone: one-row INSERT … ON CONFLICT (pgbench)", round(median["rps"], 1),
               note=f"average latency {median['latency_ms']:.2f} ms", runs=results)


def stack_floor(database_url: str, tokens: list[str], proposals: list[int], *, port: int, workers: int, runs: int,
                wrk_args: dict[str, int]) -> list[Row]:
    """The ceiling of the stack for a vote (bench/floor.py): FastAPI answering the support script
    with one INSERT and its commit, on the same server settings and the same wrk load."""
    from bench import floor

    floor.create_table(database_url)
    rows = []
    try:
        for target, name in (("bench.floor:sync_app", "stack floor: FastAPI def route + SQLAlchemy Core, one INSERT"),
                             ("bench.floor:async_app", "stack floor: FastAPI async route + psycopg, one INSERT")):
            with server(target, port=port, workers=workers, env={"FLOOR_DATABASE_URL": database_url}, factory=False):
                scripts = [script_supports(tokens, proposals, threads=wrk_args["threads"], offset=run * 10_000_000)
                           for run in range(runs)]
                rows.append(measure(name, f"http://{HOST}:{port}", scripts, **wrk_args))
    finally:
        floor.drop_table(database_url)
    return rows


def time_results(database_url: str, consultation_id: int, runs: int) -> Row:
    """Compute the results of the largest majority-judgment consultation from its ballots, as the
    application does (no stored snapshot), in a child process; the median of `runs`."""
    code = (
        "import sys, time\n"
        "from sqlmodel import Session\n"
        "from app.core.db import make_engine\n"
        "from app.consultations.models import Consultation\n"
        "from app.voting import results\n"
        "engine = make_engine(sys.argv[1])\n"
        "with Session(engine) as session:\n"
        "    consultation = session.get(Consultation, int(sys.argv[2]))\n"
        "    started = time.perf_counter()\n"
        "    computed = results.compute(session, consultation)\n"
        "    print(time.perf_counter() - started)\n"
    )
    timings = []
    for _ in range(runs):
        completed = subprocess.run([sys.executable, "-c", code, database_url, str(consultation_id)], cwd=ROOT,
                                   capture_output=True, text=True, check=True, timeout=300)
        timings.append(float(completed.stdout.strip().splitlines()[-1]) * 1000)
    log(f"results computed in {statistics.median(timings):.0f} ms (median of {runs})")
    return Row("results of 1,000,000 grades, computed (no snapshot)", p50_ms=round(statistics.median(timings), 1),
               note="median of " + ", ".join(f"{t:.0f}" for t in timings) + " ms", runs=[{"ms": t} for t in timings])


def export_ballots(database_url: str, consultation_id: int, out: Path) -> dict[str, Any]:
    """`carreau export` of one consultation's ballots as CSV in a child process: rows, seconds (the
    command's run, from its arguments to its last line written; the interpreter's start and the
    application's imports, about two seconds here, are reported apart), peak RSS."""
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-c",
         "import resource, sys, time\nfrom app.cli import main\nsys.argv = ['carreau', *sys.argv[1:]]\n"
         "started = time.perf_counter()\n"
         "try:\n    main()\nexcept SystemExit as stop:\n    code = stop.code\nelse:\n    code = 0\n"
         "print('EXPORT_SECONDS', time.perf_counter() - started, file=sys.stderr)\n"
         "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
         "sys.exit(code)\n",
         "export", str(consultation_id), "--format", "csv", "--what", "ballots", "--out", str(out)],
        cwd=ROOT, env={**os.environ, "CARREAU_DATABASE_URL": database_url}, capture_output=True, text=True,
        timeout=1800,
    )
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"export failed: {completed.stderr[-2000:]}")
    peak = int(re.search(r"PEAK_RSS_KB (\d+)", completed.stderr).group(1))  # type: ignore[union-attr]
    seconds = float(re.search(r"EXPORT_SECONDS ([\d.]+)", completed.stderr).group(1))  # type: ignore[union-attr]
    with out.open("rb") as handle:
        rows = sum(1 for _ in handle) - 1
    return {"rows": rows, "seconds": seconds, "process_seconds": elapsed, "peak_rss_mb": peak / 1024}


def vote_proposal(k: int, voters: int, proposals: int) -> int:
    """The proposal of vote k, as the Lua script of `script_supports` computes it."""
    return (k // voters + 7919 * (k % voters)) % proposals


def exact_votes(database_url: str, bases: list[str], tokens: list[str], proposals: list[int], *, votes: int,
                concurrency: int, offset: int) -> dict[str, Any]:
    """Send `votes` distinct supports (voter k mod T → proposal (k div T) mod P, for k from `offset`)
    with `concurrency` clients at once, each vote to every server in `bases` at the same moment,
    keep every acknowledged (voter, proposal) pair, then compare with the database: every
    acknowledged vote stored, nothing stored that was not acknowledged, nothing twice."""
    import asyncio

    import httpx2

    engine = make_engine(database_url)
    with Session(engine) as session:
        token_users = dict(session.execute(
            select(AccessToken.token_hash, AccessToken.user_id).where(AccessToken.name == "bench")
        ).all())
    voter_of = {token: token_users[digest(token)] for token in tokens}
    acknowledged: set[tuple[int, int]] = set()
    failures = 0
    started = time.perf_counter()

    statuses: Counter[str] = Counter()

    async def send(client: httpx2.AsyncClient, base: str, token: str, proposal: int) -> bool:
        response = await client.put(f"{base}/api/v1/proposals/{proposal}/support",
                                    headers={"Authorization": f"Bearer {token}"})
        statuses[str(response.status_code)] += 1
        return response.status_code == 200 and response.json().get("supported") is True

    async def worker(queue: "asyncio.Queue[int]") -> None:
        nonlocal failures
        async with httpx2.AsyncClient(timeout=30) as client:
            while True:
                try:
                    k = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                token = tokens[k % len(tokens)]
                proposal = proposals[vote_proposal(k, len(tokens), len(proposals))]
                answers = await asyncio.gather(*(send(client, base, token, proposal) for base in bases),
                                               return_exceptions=True)
                if any(answer is True for answer in answers):
                    acknowledged.add((voter_of[token], proposal))
                failures += sum(1 for answer in answers if answer is not True)

    async def run() -> None:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for k in range(offset, offset + votes):
            queue.put_nowait(k)
        await asyncio.gather(*(worker(queue) for _ in range(concurrency)))

    asyncio.run(run())
    elapsed = time.perf_counter() - started
    voter_ids = sorted(set(voter_of.values()))
    with Session(engine) as session:
        stored_rows = session.execute(
            select(SupportVote.voter_id, SupportVote.proposal_id)
            .where(SupportVote.voter_id.in_(voter_ids), SupportVote.proposal_id.in_(proposals))
        ).all()
    engine.dispose()
    asked = {(voter_of[tokens[k % len(tokens)]], proposals[vote_proposal(k, len(tokens), len(proposals))])
             for k in range(offset, offset + votes)}
    stored = [pair for pair in map(tuple, stored_rows) if pair in asked]
    return {"votes_asked": votes, "servers": len(bases), "acknowledged": len(acknowledged), "stored": len(stored),
            "doubled": len(stored) - len(set(stored)), "lost": len(acknowledged - set(stored)),
            "unacknowledged_but_stored": len(set(stored) - acknowledged), "failed_requests": failures,
            "statuses": dict(statuses),
            "seconds": round(elapsed, 1)}


def two_servers(database_url: str, tokens: list[str], proposals: list[int], *, port: int, workers: int,
                votes: int, concurrency: int) -> Row:
    """Scale-out experiment: two separate Carreau processes (different ports, as two machines behind
    a proxy would be) on one database; every vote is sent to both at the same moment, so each
    races its twin on the other process. The database must hold each acknowledged vote once."""
    env = {"CARREAU_DATABASE_URL": database_url}
    with server("app.main:create_app", port=port, workers=workers, env=env, factory=True), \
            server("app.main:create_app", port=port + 10, workers=workers, env=env, factory=True):
        result = exact_votes(database_url, [f"http://{HOST}:{port}", f"http://{HOST}:{port + 10}"], tokens,
                             proposals, votes=votes, concurrency=concurrency, offset=90_000_000)
    exact = result["lost"] == 0 and result["doubled"] == 0 and result["unacknowledged_but_stored"] == 0
    log(f"two servers: {result}")
    return Row("two Carreau processes, same votes sent to both at once", errors=result["failed_requests"],
               note=f"{result['acknowledged']:,} votes acknowledged, {result['stored']:,} stored, "
                    f"{result['lost']} lost, {result['doubled']} doubled"
                    + (" — exact" if exact else " — MISMATCH"),
               runs=[result])


# --- the whole run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--port", type=int, default=8731)
    parser.add_argument("--voters", type=int, default=5000)
    parser.add_argument("--exact-votes", type=int, default=3000,
                        help="votes sent by the exactness checks (every answer recorded)")
    parser.add_argument("--skip", action="append", default=[],
                        choices=["export", "pgbench", "floor", "results", "two-servers"])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    database_url = args.database_url
    engine = make_engine(database_url)
    ids = slug_ids(engine)
    if "bench-soutiens" not in ids:
        raise SystemExit("No benchmark data here: run `python -m bench.generate` first.")
    log("preparing voters and tokens")
    tokens = prepare_voters(engine, args.voters)
    support_targets = proposal_ids(engine, ids["bench-soutiens"])
    judgment_vote = proposal_ids(engine, ids["bench-jugement-vote"])
    pages = [f"/propositions/{pid}" for pid in support_targets[:: max(1, len(support_targets) // 2000)]]
    popular = [f"/propositions/{pid}" for pid in most_supported(engine, ids["bench-soutiens"], 50)]
    searches = [f"/consultations/bench-soutiens?q={urllib.request.quote(word)}" for word in SEARCH_WORDS]
    wrk_args = {"duration": args.duration, "connections": args.connections, "threads": args.threads}
    env = {"CARREAU_DATABASE_URL": database_url, "CARREAU_BASE_URL": f"http://{HOST}:{args.port}"}
    base = f"http://{HOST}:{args.port}"
    rows: list[Row] = []
    runs = args.runs
    with server("app.main:create_app", port=args.port, workers=args.workers, env=env, factory=True):
        with urllib.request.urlopen(f"{base}/consultations/bench-soutiens") as response:
            page_size = len(response.read())
        log(f"consultation page: {page_size:,} bytes")
        plain = [script_get(["/consultations/bench-soutiens"], threads=args.threads)] * runs
        rows.append(measure("consultation page (random order, 24,000 proposals)", base, plain, **wrk_args))
        by_supports = [script_get(["/consultations/bench-soutiens?sort=supports"], threads=args.threads)] * runs
        rows.append(measure("consultation page (by supports)", base, by_supports, **wrk_args))
        mille = [script_get(["/consultations/bench-mille"], threads=args.threads)] * runs
        rows.append(measure("consultation page (random order, 1,000 proposals)", base, mille, **wrk_args))
        # Every request its own shuffled order (`ordre=`): never served from the cache, so these two
        # rows measure rendering itself, and their ratio the growth of a page with the consultation.
        for slug, size in (("bench-soutiens", "24,000"), ("bench-mille", "1,000")):
            fresh = [f"/consultations/{slug}?ordre={n}" for n in range(1, 20_001)]
            rows.append(measure(f"consultation page rendered afresh ({size} proposals, a new order each time)", base,
                                [script_get(fresh, threads=args.threads, offset=run * 5_000)
                                 for run in range(runs)], warmup=script_get(fresh, threads=args.threads,
                                                                            offset=15_000), **wrk_args))
        rows.append(measure("proposal page with its comments (the 50 most supported)", base,
                            [script_get(popular, threads=args.threads)] * runs, **wrk_args))
        rows.append(measure(f"proposal pages, {len(pages):,} different ones (mostly rendered afresh)", base,
                            [script_get(pages, threads=args.threads)] * runs, **wrk_args))
        rows.append(measure("full-text search (consultation page, q=…)", base,
                            [script_get(searches, threads=args.threads)] * runs, **wrk_args))
        support_scripts = [script_supports(tokens, support_targets, threads=args.threads, offset=run * 10_000_000)
                           for run in range(runs)]
        warm_supports = script_supports(tokens, support_targets, threads=args.threads, offset=WARMUP_OFFSET)
        rows.append(measure("PUT …/support (many residents at once)", base, support_scripts, warmup=warm_supports,
                            **wrk_args))
        ballot_scripts = [script_ballots(tokens, ids["bench-jugement-vote"], judgment_vote, threads=args.threads,
                                         offset=run * 10_000_000) for run in range(runs)]
        warm_ballots = script_ballots(tokens, ids["bench-jugement-vote"], judgment_vote, threads=args.threads,
                                      offset=WARMUP_OFFSET)
        rows.append(measure("PUT …/ballot (majority judgment, 10 grades)", base, ballot_scripts, warmup=warm_ballots,
                            **wrk_args))
        single = exact_votes(database_url, [base], tokens, support_targets, votes=args.exact_votes,
                             concurrency=args.connections, offset=80_000_000)
        log(f"exactness, one server: {single}")
        results_url = f"/api/v1/consultations/{ids['bench-jugement']}/results"
        rows.append(measure("GET …/results (1,000,000 grades)", base,
                            [script_get([results_url], threads=args.threads)] * runs, **wrk_args))
    after = voter_votes(engine, ids)
    support_row = next(row for row in rows if row.name.startswith("PUT …/support"))
    ballot_row = next(row for row in rows if row.name.startswith("PUT …/ballot"))
    wrk_supports = sum(run["requests"] for run in support_row.runs)
    support_row.note = (f"{wrk_supports:,} answered under wrk; exactness check: {single['acknowledged']:,} "
                        f"acknowledged, {single['stored']:,} stored, {single['lost']} lost, "
                        f"{single['doubled']} doubled")
    ballot_requests = sum(run["requests"] - run["errors"] for run in ballot_row.runs)
    ballot_row.note = (f"{ballot_requests:,} answered from {len(tokens):,} voters; {after['ballots']:,} ballots "
                       f"with {after['grades']:,} grades in the database")
    checks = {
        "supports_exact": single["lost"] == 0 and single["doubled"] == 0
        and single["unacknowledged_but_stored"] == 0 and single["failed_requests"] == 0,
        "support_counters_agree": after["supports_counter"] == after["support_rows"],
        "ballots_whole": after["grades"] == after["ballots"] * len(judgment_vote)
        and after["ballots"] <= len(tokens) and ballot_row.errors == 0,
    }
    log(f"checks: {checks}")
    os.environ["BENCH_BASELINE_BYTES"] = str(page_size)
    with server("bench.baseline:app", port=args.port + 1, workers=args.workers,
                env={"BENCH_BASELINE_BYTES": str(page_size)}, factory=False):
        constant = [script_get(["/"], threads=args.threads)] * runs
        baseline = measure(f"baseline: constant page of {page_size:,} bytes (bench/baseline.py)",
                           f"http://{HOST}:{args.port + 1}", constant, **wrk_args)
    rows.insert(0, baseline)
    for row in rows[1:]:
        if row.requests_per_second and not row.name.startswith("PUT"):
            row.baseline, row.ratio = baseline.name, round(row.requests_per_second / baseline.requests_per_second, 3)
    if engine.dialect.name == "postgresql" and "pgbench" not in args.skip:
        pg = pgbench_inserts(database_url, connections=args.connections, duration=args.duration, runs=runs)
        rows.insert(1, pg)
        for row in (support_row, ballot_row):
            row.baseline, row.ratio = pg.name, round((row.requests_per_second or 0) / (pg.requests_per_second or 1), 3)
        if "floor" not in args.skip:
            for position, floor in enumerate(stack_floor(database_url, tokens, support_targets, port=args.port + 3,
                                                         workers=args.workers, runs=runs, wrk_args=wrk_args), start=2):
                floor.baseline = pg.name
                floor.ratio = round((floor.requests_per_second or 0) / (pg.requests_per_second or 1), 3)
                rows.insert(position, floor)
    if "results" not in args.skip:
        rows.append(time_results(database_url, ids["bench-jugement"], runs))
    if "two-servers" not in args.skip:
        pair = two_servers(database_url, tokens, support_targets, port=args.port + 2, workers=args.workers,
                           votes=args.exact_votes, concurrency=args.connections)
        rows.append(pair)
        checks["two_servers_exact"] = pair.note.endswith("exact")
    export: dict[str, Any] = {}
    if "export" not in args.skip:
        with tempfile.TemporaryDirectory() as folder:
            for slug in ("bench-jugement-cent", "bench-jugement"):
                if slug in ids:
                    export[slug] = export_ballots(database_url, ids[slug], Path(folder) / f"{slug}.csv")
                    figures = export[slug]
                    log(f"export {slug}: {figures['rows']:,} rows in {figures['seconds']:.1f} s, "
                        f"peak {figures['peak_rss_mb']:.0f} MB")
                    rows.append(Row(f"CSV export of {figures['rows']:,} ballot lines ({slug})",
                                    requests_per_second=round(figures["rows"] / figures["seconds"]),
                                    note=f"rows/s ({figures['seconds']:.1f} s; the process, with Python's start "
                                         f"and imports, {figures['process_seconds']:.1f} s); peak memory of the "
                                         f"process {figures['peak_rss_mb']:.0f} MB"))
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "database": engine.dialect.name,
        "server": f"uvicorn[standard] (httptools, uvloop), {args.workers} workers",
        "wrk": f"{args.threads} threads, {args.connections} connections, {args.duration} s per run, {runs} runs",
        "machine": {"cpus": os.cpu_count(), "uname": " ".join(os.uname())},
        "rows": [asdict(row) for row in rows], "checks": checks, "export": export,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(markdown_table(rows))
    print(f"\nChecks: {checks}")
    engine.dispose()


def markdown_table(rows: list[Row]) -> str:
    def show(value: float | None, digits: int = 1) -> str:
        return "—" if value is None else f"{value:,.{digits}f}"

    lines = ["| measured | req/s | p50 ms | p99 ms | errors | ratio to its baseline | note |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for row in rows:
        ratio = "—" if row.ratio is None else f"{row.ratio:.0%}"
        lines.append(f"| {row.name} | {show(row.requests_per_second, 0)} | {show(row.p50_ms)} | {show(row.p99_ms)} "
                     f"| {'—' if row.errors is None else row.errors} | {ratio} | {row.note} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
