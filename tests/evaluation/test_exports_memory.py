"""An export's memory does not depend on its size: 200,000 ballots go out in constant memory.

Method: the 200,000 supports (20,000 voters × 10 proposals) are inserted with executemany, then
the CSV export of the ballots and the open-data bundle run under tracemalloc, its peak reset
just before each starts; their chunks are consumed and dropped as a client would read them.

The bound: the peak of Python allocations during each export, above what was allocated when it
started, stays under 8 MiB, while the CSV file is larger than that (about 17 MB; measured peak
3.5 MiB on SQLite and PostgreSQL). A version that gathered its rows in a list would need several times
the file's size."""

import tracemalloc
from datetime import timedelta

from sqlalchemy import insert
from sqlmodel import Session, col, select

from app.accounts.models import Role, User
from app.consultations.models import Consultation
from app.evaluation import exports
from app.evaluation.exports import Format, What
from app.voting.models import SupportVote
from tests.evaluation.exporting import communes, plan, principal
from tests.factories import NOW, make_consultation, make_proposal, make_user

VOTERS = 20_000
PROPOSALS = 10
BALLOTS = VOTERS * PROPOSALS  # 200,000 supports
PEAK_BOUND = 8 * 1024 * 1024
BATCH = 20_000


def _generate(session: Session) -> int:
    consultation = make_consultation(session, phase="results")
    author = make_user(session)
    proposals = [make_proposal(session, consultation, author, supports_count=VOTERS).id for _ in range(PROPOSALS)]
    places = [c.insee_code for c in communes(session, n_epcis=4, per_epci=10)]
    for start in range(0, VOTERS, BATCH):
        session.execute(insert(User), [
            {"display_name": f"Votant-mémoire {i}", "is_email_confirmed": False,
             "commune_insee": places[i % len(places)], "birth_year": 1940 + i % 70, "verification_level": "declared",
             "is_identity_verified": False, "created_at": NOW}
            for i in range(start, min(start + BATCH, VOTERS))
        ])
    # Ids from the database's own sequence (PostgreSQL does not move it for explicit ids).
    ids = list(session.exec(select(User.id).where(col(User.display_name).startswith("Votant-mémoire "))
                            .order_by(col(User.id))))
    assert len(ids) == VOTERS
    when = NOW - timedelta(days=12)
    for proposal_id in proposals:
        for start in range(0, VOTERS, BATCH):
            session.execute(insert(SupportVote), [
                {"proposal_id": proposal_id, "consultation_id": consultation.id, "voter_id": ids[i],
                 "channel": "online", "cast_at": when}
                for i in range(start, min(start + BATCH, VOTERS))
            ])
    session.flush()
    return consultation.id or 0


# JSON, XLSX and ODS read the same row streams (XLSX and ODS into a temporary file, then streamed);
# under tracemalloc they take minutes, so they were measured by hand (JSON 2.6 MiB for 45 MB written,
# ODS 3.5 MiB, XLSX 2.6 MiB, each for 200,000 ballots) rather than in every run of the suite.
FORMATS = [(Format.csv, What.ballots), (Format.bundle, What.all)]


def test_exporting_200_000_ballots_keeps_memory_constant(session: Session) -> None:
    consultation_id = _generate(session)
    evaluator = principal(session, Role.evaluator)
    consultation = session.get(Consultation, consultation_id)
    session.expunge_all()  # what the test built is not the export's memory
    measured = []
    tracemalloc.start()
    try:
        for fmt, what in FORMATS:
            tracemalloc.reset_peak()
            base, _ = tracemalloc.get_traced_memory()
            the_plan = plan(session, evaluator, consultation, fmt, what)
            size = 0
            for chunk in exports.export_chunks(session, the_plan):
                size += len(chunk)
            _, peak = tracemalloc.get_traced_memory()
            measured.append((fmt, what, size, peak - base, the_plan))
    finally:
        tracemalloc.stop()
    report = ", ".join(f"{fmt.value} {size / 1e6:.1f} MB written, peak {peak / 2**20:.2f} MiB"
                       for fmt, _, size, peak, _ in measured)
    print(f"\n{BALLOTS} ballots: {report}")
    for fmt, _what, size, peak, the_plan in measured:
        assert the_plan.row_counts["bulletins"] == BALLOTS
        assert the_plan.results is not None
        assert the_plan.results.participants == VOTERS
        if fmt is Format.csv:  # (the bundle is compressed)
            assert size > PEAK_BOUND, "the file is bigger than the bound, or the bound proves nothing"
        assert peak < PEAK_BOUND, f"{fmt.value}: peak {peak / 2**20:.1f} MiB for {size / 2**20:.1f} MiB written"
