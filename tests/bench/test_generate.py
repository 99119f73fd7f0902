"""The benchmark's data set is valid: made through the project's own tables and constraints, with
counters that agree with the rows they count (small scale, on SQLite and PostgreSQL)."""

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from app.core.db import make_engine
from bench.generate import SCALES, generate
from tests.concurrency import fresh_database


@pytest.fixture(params=["sqlite", "postgresql"])
def bench_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "postgresql":
        from tests.support import postgres_base_url

        postgres_base_url()  # skips (or fails on CI) without PostgreSQL
    with fresh_database(request.param, tmp_path_factory, "bench") as url:
        yield url


def test_small_data_set(bench_url: str) -> None:
    report = generate(bench_url, "small", seed=7)
    scale = SCALES["small"]
    engine = make_engine(bench_url)
    with engine.connect() as connection:
        def one(sql: str) -> int:
            return int(connection.execute(text(sql)).scalar_one())

        assert one("SELECT count(*) FROM user_account") == scale.residents
        assert one("SELECT count(*) FROM consultation") == 64
        assert one("SELECT count(*) FROM proposal") == scale.proposals
        assert one("SELECT count(*) FROM comment") == scale.comments
        # Every method meets every phase, and the driven consultations are there.
        assert one("SELECT count(DISTINCT voting_method) FROM consultation") == 3
        for slug in ("bench-soutiens", "bench-mille", "bench-jugement", "bench-jugement-vote", "bench-budget"):
            assert slug in report["consultations"]
        # Counters agree with the rows they count.
        assert one("SELECT count(*) FROM proposal p WHERE supports_count <> "
                   "(SELECT count(*) FROM support_vote s WHERE s.proposal_id = p.id)") == 0
        assert one("SELECT count(*) FROM proposal p WHERE comments_count <> "
                   "(SELECT count(*) FROM comment c WHERE c.proposal_id = p.id)") == 0
        assert one("SELECT count(*) FROM participation pa WHERE supports_used <> (SELECT count(*) FROM support_vote s "
                   "WHERE s.consultation_id = pa.consultation_id AND s.voter_id = pa.voter_id)") == 0
        assert one("SELECT count(*) FROM public_action a WHERE ratings_count <> "
                   "(SELECT count(*) FROM public_action_evaluation e WHERE e.action_id = a.id)") == 0
        # Majority-judgment ballots grade every proposal of their consultation.
        assert one("SELECT count(*) FROM ballot b JOIN consultation c ON c.id = b.consultation_id "
                   "WHERE c.voting_method = 'majority_judgment' AND (SELECT count(*) FROM ballot_grade g "
                   "WHERE g.ballot_id = b.id) <> (SELECT count(*) FROM proposal p "
                   "WHERE p.consultation_id = c.id AND p.state <> 'withdrawn')") == 0
        # The largest majority-judgment consultation is ten times the one kept for the export comparison.
        big = one("SELECT count(*) FROM ballot b JOIN consultation c ON c.id = b.consultation_id "
                  "WHERE c.slug = 'bench-jugement'")
        assert big == scale.big_judgment_ballots
    engine.dispose()
