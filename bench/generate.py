"""Build a basin-sized data set for the benchmark, on SQLite or PostgreSQL.

    python -m bench.generate --database-url postgresql://postgres@127.0.0.1:5432/carreau_bench --scale full

Full scale: the territory and the 16 axes, 250,000 residents spread over the communes by population
with realistic ages, 64 consultations over every axis and phase (a third each support, majority
judgment and budget), 50,000 proposals, about 2,000,000 supports and grades (1,000,000 of them in the
largest majority-judgment consultation), 300,000 comments, 2,000 actions with progress updates and
residents' ratings. `--scale small` is the same shape, smaller (seconds, for tests).

The rows go into the project's own tables (the models' tables, with every constraint and
foreign key of the migrations, which are run first), in bulk: `COPY` on PostgreSQL, executemany in
large transactions on SQLite. The denormalised counters (supports, comments, supports used,
ratings) are computed here from the very rows inserted, so the data set is what the application
itself would have produced. Deterministic for a given --seed.

Consultations the benchmark drives (their slugs are fixed): `bench-soutiens` (support, voting
phase, half of all proposals: about 24,000 at full scale), `bench-jugement` (majority judgment,
results phase, 1,000,000 grades), `bench-jugement-vote` (majority judgment, voting phase, 10
proposals), `bench-jugement-cent` (its ballots are a tenth of `bench-jugement`'s: the export's
memory comparison), `bench-budget` (budget, voting phase), and `bench-mille` (support, voting phase,
1,000 proposals: the growth comparison)."""

import argparse
import json
import random
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, select, text
from sqlmodel import Session

from app.accounts.models import User
from app.actions.models import ActionEvaluation, ActionProposal, ActionUpdate, PublicAction
from app.consultations.models import Consultation
from app.core.db import make_engine
from app.proposals.models import Comment, Proposal
from app.proposals.search import search_text_of
from app.territory.models import Axis, Commune
from app.territory.seed import load_axes, load_territory
from app.voting.models import Ballot, BallotChoice, BallotGrade, Participation, SupportVote

GRADES = ("excellent", "tres_bien", "bien", "assez_bien", "passable", "insuffisant", "a_rejeter")
PHASE_ORDER = ("information", "proposals", "voting", "results", "follow_up")
WORDS_TEXT = """
jardin partagé terril piste cyclable école cité minière chevalement friche médiathèque bus navette
parc arbres fontaine banc éclairage trottoir marché salle fêtes club sport stade piscine atelier
mémoire patrimoine mineurs musée sentier randonnée canal berge vélo covoiturage bornes recharge
logement rénovation isolation chauffage solaire panneaux toiture jeunes aînés crèche cantine bio
local producteurs emploi insertion formation numérique wifi espace france services santé maison
médecin pharmacie propreté déchets tri compost recyclerie entraide voisinage fête quartier concert
"""
WORDS = tuple(WORDS_TEXT.split())


@dataclass(frozen=True)
class Scale:
    residents: int
    proposals: int
    support_votes: int  # spread over the support consultations
    big_judgment_ballots: int  # × 20 proposals = the largest majority-judgment consultation's grades
    other_ballots: int  # per other majority-judgment or budget consultation
    comments: int
    actions: int


SCALES = {
    "full": Scale(residents=250_000, proposals=50_000, support_votes=800_000, big_judgment_ballots=50_000,
                  other_ballots=1_500, comments=300_000, actions=2_000),
    "small": Scale(residents=5_000, proposals=2_500, support_votes=16_000, big_judgment_ballots=1_000,
                   other_ballots=60, comments=6_000, actions=40),
}
CONSULTATIONS = 64
BIG_JUDGMENT_PROPOSALS = 20
PASSWORD_HASH = None  # residents sign in through sessions made by bench/run, never a password


def log(message: str) -> None:
    print(f"[generate {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- bulk loading


def _copy_value(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return value


def bulk_insert(engine: Engine, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]],
                *, chunk: int = 50_000) -> int:
    """Insert rows into a table: COPY on PostgreSQL, executemany in chunks on SQLite."""
    count = 0
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row([_copy_value(value) for value in row])
                    count += 1
            raw.commit()
        finally:
            raw.close()
        return count
    statement = table.insert()
    with engine.begin() as connection:
        batch: list[dict[str, Any]] = []
        for row in rows:
            batch.append(dict(zip(columns, row, strict=True)))
            if len(batch) >= chunk:
                connection.execute(statement, batch)
                count += len(batch)
                batch = []
        if batch:
            connection.execute(statement, batch)
            count += len(batch)
    return count


def reset_sequences(engine: Engine) -> None:
    """COPY with explicit ids leaves PostgreSQL's sequences behind: move them past the data."""
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as connection:
        for table in ("user_account", "consultation", "proposal", "comment", "support_vote", "participation",
                      "ballot", "public_action", "public_action_update", "public_action_evaluation"):
            connection.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT max(id) FROM {table}), 1))"
            ))


# --- the data set


@dataclass
class ConsultationPlan:
    id: int
    slug: str
    axis_id: int
    method: str
    phase: str
    proposals: int
    first_proposal_id: int = 0
    budget_total: int | None = None


class Generator:
    def __init__(self, engine: Engine, scale: Scale, *, seed: int, now: datetime) -> None:
        self.engine = engine
        self.scale = scale
        self.random = random.Random(seed)
        self.now = now
        self.plans: list[ConsultationPlan] = []
        self.supports_count: dict[int, int] = {}
        self.comments_count: dict[int, int] = {}

    # territory, axes, people

    def territory(self) -> None:
        with Session(self.engine) as session:
            load_territory(session)
            load_axes(session)
            session.commit()
            communes = session.exec(select(Commune.insee_code, Commune.population)).all()  # type: ignore[call-overload]
            self.axes = [row[0] for row in session.exec(select(Axis.id).order_by(Axis.number))]  # type: ignore[call-overload]
        self.communes = [code for code, _ in communes]
        self.populations = [population or 1 for _, population in communes]

    def _birth_year(self) -> int:
        # Roughly the basin's adult age pyramid (16+): fewer very old people, a bulge at 50-65.
        age = int(self.random.choices(
            [self.random.randint(16, 24), self.random.randint(25, 34), self.random.randint(35, 49),
             self.random.randint(50, 64), self.random.randint(65, 79), self.random.randint(80, 95)],
            weights=[13, 15, 24, 24, 17, 7],
        )[0])
        return self.now.year - age

    def residents(self) -> None:
        count = self.scale.residents
        communes = self.random.choices(self.communes, weights=self.populations, k=count)

        def rows() -> Iterator[tuple[Any, ...]]:
            for n in range(1, count + 1):
                created = self.now - timedelta(days=self.random.randint(30, 900))
                verified = self.random.random() < 0.3
                yield (n, f"Habitant {n}", f"r{n}@bench.carreau.invalid", True, PASSWORD_HASH, communes[n - 1],
                       self._birth_year(), "verified" if verified else "declared", False, "2026-11",
                       created, created)

        columns = ("id", "display_name", "email", "is_email_confirmed", "password_hash", "commune_insee",
                   "birth_year", "verification_level", "is_identity_verified", "terms_version",
                   "terms_accepted_at", "created_at")
        inserted = bulk_insert(self.engine, User.__table__, columns, rows())  # type: ignore[arg-type]
        log(f"{inserted:,} residents")

    # consultations

    def _phase_dates(self, phase: str) -> dict[str, datetime]:
        if phase == "closed":
            start = self.now - timedelta(days=400)
            dates = {f"{name}_starts_at": start + timedelta(days=30 * i) for i, name in enumerate(PHASE_ORDER)}
            dates["follow_up_ends_at"] = start + timedelta(days=300)
            return dates
        index = PHASE_ORDER.index(phase)
        start = self.now - timedelta(days=15) - timedelta(days=30 * index)
        return {f"{name}_starts_at": start + timedelta(days=30 * i) for i, name in enumerate(PHASE_ORDER)}

    def consultations(self) -> None:
        methods = ("support", "majority_judgment", "budget")
        phases = ("information", "proposals", "voting", "results", "follow_up", "closed")
        judgment_ids = [i for i in range(CONSULTATIONS) if methods[i % 3] == "majority_judgment"]
        budget_ids = [i for i in range(CONSULTATIONS) if methods[i % 3] == "budget"]
        support_ids = [i for i in range(CONSULTATIONS) if methods[i % 3] == "support"]
        special = {support_ids[0]: ("bench-soutiens", "voting"), support_ids[1]: ("bench-mille", "voting"),
                   judgment_ids[0]: ("bench-jugement", "results"), judgment_ids[1]: ("bench-jugement-vote", "voting"),
                   judgment_ids[2]: ("bench-jugement-cent", "results"),
                   budget_ids[0]: ("bench-budget", "voting")}
        # Every method meets every phase: the phase turns with each group of three.
        phase_of = {i: special[i][1] if i in special else phases[(i // 3) % len(phases)] for i in range(CONSULTATIONS)}
        # Proposals: none before the proposals phase, 20 per majority-judgment consultation (10 in
        # the one voting now), 30 per budget one, the rest over the support ones: half of all to
        # `bench-soutiens`, 1,000 to `bench-mille`.
        fixed = {i: 0 if phase_of[i] == "information" else
                 (10 if i == judgment_ids[1] else BIG_JUDGMENT_PROPOSALS) if methods[i % 3] == "majority_judgment"
                 else 30 for i in range(CONSULTATIONS) if methods[i % 3] != "support"}
        left = self.scale.proposals - sum(fixed.values())
        mille = min(1_000, max(10, left // 10))
        main = max(10, left // 2)
        others = [i for i in support_ids[2:] if phase_of[i] != "information"]
        rest = left - mille - main
        counts = {i: 0 for i in support_ids[2:]} | dict.fromkeys(others, rest // len(others))
        counts[others[0]] += rest - (rest // len(others)) * len(others)
        support_counts = {support_ids[0]: main, support_ids[1]: mille, **counts}
        rows = []
        for i in range(CONSULTATIONS):
            method = methods[i % 3]
            slug = special[i][0] if i in special else f"bench-{i + 1:02d}"
            phase = phase_of[i]
            proposals = support_counts[i] if method == "support" else fixed[i]
            plan = ConsultationPlan(id=i + 1, slug=slug, axis_id=self.axes[i % len(self.axes)], method=method,
                                    phase=phase, proposals=proposals,
                                    budget_total=2_000_000 if method == "budget" else None)
            self.plans.append(plan)
            dates = self._phase_dates(phase)
            rows.append({
                "id": plan.id, "slug": slug,
                "title": f"Consultation {i + 1} : {' '.join(self.random.sample(WORDS, 3))}",
                "summary": "Une consultation du jeu de données de performance.", "body": "",
                "axis_id": plan.axis_id, "scope_kind": "basin", "scope_code": None, "voting_method": method,
                "max_supports": 0, "min_age": None, "required_verification": "declared",
                "results_hidden_until_end": False, "is_premoderated": False, "budget_total": plan.budget_total,
                "status": "published", "first_vote_at": None, "created_at": self.now - timedelta(days=500),
                "updated_at": self.now - timedelta(days=500), "created_by_id": None,
                "information_starts_at": dates["information_starts_at"],
                "proposals_starts_at": dates["proposals_starts_at"], "voting_starts_at": dates["voting_starts_at"],
                "results_starts_at": dates["results_starts_at"], "follow_up_starts_at": dates["follow_up_starts_at"],
                "follow_up_ends_at": dates.get("follow_up_ends_at"),
            })
        with self.engine.begin() as connection:
            connection.execute(Consultation.__table__.insert(), rows)  # type: ignore[attr-defined]
        log(f"{len(rows)} consultations")

    def _voted(self, plan: ConsultationPlan) -> bool:
        return plan.phase in ("voting", "results", "follow_up", "closed")

    # proposals

    def _sentence(self, words: int) -> str:
        return " ".join(self.random.choices(WORDS, k=words))

    def proposals(self) -> None:
        next_id = 1
        states: dict[int, str] = {}
        for plan in self.plans:
            plan.first_proposal_id = next_id
            next_id += plan.proposals
        residents = self.scale.residents

        def rows() -> Iterator[tuple[Any, ...]]:
            for plan in self.plans:
                created = self.now - timedelta(days=20)
                for pid in range(plan.first_proposal_id, plan.first_proposal_id + plan.proposals):
                    title = f"{self._sentence(3).capitalize()} ({pid})"
                    body = f"{self._sentence(25)}. {self._sentence(20)}."
                    roll = self.random.random()
                    state = "published"
                    if plan.phase in ("results", "follow_up", "closed") and plan.method == "support":
                        state = "accepted" if roll < 0.15 else "rejected" if roll < 0.25 else "published"
                    elif roll < 0.01 and plan.method == "support":
                        state = "withdrawn"  # (a ballot grades every proposal: none withdrawn there)
                    states[pid] = state
                    cost = self.random.randrange(5_000, 300_000, 1_000) if plan.method == "budget" else None
                    answer = "Réponse officielle de la collectivité." if state in ("accepted", "rejected") else None
                    yield (pid, plan.id, self.random.randint(1, residents), title, body, f"<p>{body}</p>",
                           search_text_of(title, body), None, cost, state, answer, "online", 0, 0,
                           created, created, self.now - timedelta(days=1) if state == "withdrawn" else None)

        columns = ("id", "consultation_id", "author_id", "title", "body", "body_html", "search_text",
                   "commune_insee", "estimated_cost", "state", "official_answer", "channel", "supports_count",
                   "comments_count", "created_at", "updated_at", "withdrawn_at")
        inserted = bulk_insert(self.engine, Proposal.__table__, columns, rows())  # type: ignore[arg-type]
        self.states = states
        log(f"{inserted:,} proposals")

    def _proposal_ids(self, plan: ConsultationPlan) -> range:
        return range(plan.first_proposal_id, plan.first_proposal_id + plan.proposals)

    # votes

    def supports(self) -> None:
        plans = [p for p in self.plans if p.method == "support" and self._voted(p)]
        weights = [p.proposals for p in plans]
        share = {p.id: max(1, self.scale.support_votes * w // sum(weights))
                 for p, w in zip(plans, weights, strict=True)}
        participation: list[tuple[int, int, int]] = []
        residents = self.scale.residents

        def rows() -> Iterator[tuple[Any, ...]]:
            vote_id = 0
            for plan in plans:
                ids = [pid for pid in self._proposal_ids(plan) if self.states.get(pid) != "withdrawn"]
                target = share[plan.id]
                per_voter = min(len(ids), 8)  # each voter supports 1 to 8 proposals, 4.5 on average
                voters = self.random.sample(range(1, residents + 1),
                                            min(residents, max(1, int(target / ((1 + per_voter) / 2)))))
                cast = self.now - timedelta(days=10)
                for voter in voters:
                    chosen = self.random.sample(ids, self.random.randint(1, per_voter))
                    participation.append((plan.id, voter, len(chosen)))
                    for pid in chosen:
                        vote_id += 1
                        self.supports_count[pid] = self.supports_count.get(pid, 0) + 1
                        yield (vote_id, pid, plan.id, voter, "assisted" if vote_id % 20 == 0 else "online", cast)

        inserted = bulk_insert(self.engine, SupportVote.__table__,  # type: ignore[arg-type]
                               ("id", "proposal_id", "consultation_id", "voter_id", "channel", "cast_at"), rows())
        bulk_insert(self.engine, Participation.__table__,  # type: ignore[arg-type]
                    ("id", "consultation_id", "voter_id", "supports_used"),
                    ((n, c, v, used) for n, (c, v, used) in enumerate(participation, start=1)))
        log(f"{inserted:,} supports from {len(participation):,} participations")

    def ballots(self) -> None:
        plans = [p for p in self.plans if p.method != "support" and self._voted(p)]
        residents = self.scale.residents
        ballots: list[tuple[Any, ...]] = []
        choices: list[tuple[int, int]] = []
        grades_total = 0
        ballot_id = 0

        big = next(p for p in plans if p.slug == "bench-jugement")

        def grade_rows() -> Iterator[tuple[Any, ...]]:
            nonlocal ballot_id, grades_total
            for plan in plans:
                count = (self.scale.big_judgment_ballots if plan is big else
                         self.scale.big_judgment_ballots // 10 if plan.slug == "bench-jugement-cent" else
                         self.scale.other_ballots)
                voters = self.random.sample(range(1, residents + 1), min(residents, count))
                ids = list(self._proposal_ids(plan))
                # Each proposal has its own leaning, so the results have a clear order.
                leanings = {pid: self.random.random() for pid in ids}
                cast = self.now - timedelta(days=35 if plan.phase != "voting" else 5)
                for voter in voters:
                    ballot_id += 1
                    ballots.append((ballot_id, plan.id, voter, "assisted" if ballot_id % 25 == 0 else "online",
                                    cast, cast))
                    if plan.method == "majority_judgment":
                        for pid in ids:
                            grades_total += 1
                            index = min(6, max(0, int(self.random.gauss(leanings[pid] * 6, 1.6))))
                            yield (ballot_id, pid, GRADES[index])
                    else:
                        budget = plan.budget_total or 0
                        spent = 0
                        for pid in self.random.sample(ids, len(ids)):
                            if self.random.random() < leanings[pid] and spent + 300_000 <= budget:
                                spent += 300_000
                                choices.append((ballot_id, pid))

        # Ballots must exist before their lines, and a million grades should not sit in memory:
        # a first run of the same random stream collects the ballots (the grades are dropped),
        # a second one streams the grades.
        state = self.random.getstate()
        for _ in grade_rows():
            pass
        self.random.setstate(state)
        inserted_ballots = bulk_insert(self.engine, Ballot.__table__,  # type: ignore[arg-type]
                                       ("id", "consultation_id", "voter_id", "channel", "cast_at", "updated_at"),
                                       ballots)
        ballots.clear()
        choices.clear()  # made again by the second run
        ballot_id = 0
        grades_total = 0
        inserted_grades = bulk_insert(self.engine, BallotGrade.__table__,  # type: ignore[arg-type]
                                      ("ballot_id", "proposal_id", "grade"), grade_rows())
        bulk_insert(self.engine, BallotChoice.__table__, ("ballot_id", "proposal_id"), choices)  # type: ignore[arg-type]
        log(f"{inserted_ballots:,} ballots, {inserted_grades:,} grades, {len(choices):,} budget choices")

    # comments

    def comments(self) -> None:
        visible = [pid for pid, state in self.states.items() if state != "withdrawn"]
        residents = self.scale.residents

        def rows() -> Iterator[tuple[Any, ...]]:
            parents: list[tuple[int, int, int]] = []  # (comment id, proposal id, depth) of recent comments
            for cid in range(1, self.scale.comments + 1):
                if parents and self.random.random() < 0.3:
                    parent_id, pid, depth = self.random.choice(parents[-50:])
                    if depth >= 2:
                        parent_id, depth = None, -1  # type: ignore[assignment]
                else:
                    pid = self.random.choice(visible)
                    parent_id, depth = None, -1  # type: ignore[assignment]
                depth += 1
                parents.append((cid, pid, depth))
                if len(parents) > 1000:
                    del parents[:500]
                self.comments_count[pid] = self.comments_count.get(pid, 0) + 1
                body = self._sentence(18)
                at = self.now - timedelta(minutes=self.random.randint(60, 20 * 24 * 60))
                yield (cid, pid, parent_id, depth, self.random.randint(1, residents), body, f"<p>{body}</p>",
                       "published", at, at)

        inserted = bulk_insert(self.engine, Comment.__table__,  # type: ignore[arg-type]
                               ("id", "proposal_id", "parent_id", "depth", "author_id", "body", "body_html", "state",
                                "created_at", "updated_at"), rows())
        log(f"{inserted:,} comments")

    # actions

    def actions(self) -> None:
        accepted = [pid for pid, state in self.states.items() if state == "accepted"]
        plan_of = {}
        for plan in self.plans:
            for pid in self._proposal_ids(plan):
                plan_of[pid] = plan
        chosen = self.random.sample(accepted, min(len(accepted), self.scale.actions))
        residents = self.scale.residents
        actions, links, updates, evaluations = [], [], [], []
        update_id = evaluation_id = 0
        for action_id, pid in enumerate(chosen, start=1):
            plan = plan_of[pid]
            status = self.random.choice(("planned", "in_progress", "in_progress", "done", "abandoned"))
            progress = {"planned": 0, "in_progress": self.random.randint(5, 95), "done": 100,
                        "abandoned": self.random.randint(0, 60)}[status]
            ratings_count = ratings_sum = 0
            if plan.phase in ("follow_up", "closed"):
                for voter in self.random.sample(range(1, residents + 1), min(residents, self.random.randint(0, 40))):
                    evaluation_id += 1
                    rating = self.random.randint(1, 5)
                    ratings_count += 1
                    ratings_sum += rating
                    comment = self._sentence(12) if self.random.random() < 0.3 else None
                    evaluations.append((evaluation_id, action_id, voter, rating, comment,
                                        f"<p>{comment}</p>" if comment else None, "published", "online",
                                        self.now - timedelta(days=3), self.now - timedelta(days=3)))
            start = (self.now - timedelta(days=self.random.randint(30, 200))).date()
            actions.append((action_id, plan.id, f"Action {action_id} : {self._sentence(4)}", self._sentence(30),
                            f"<p>{self._sentence(30)}</p>", "Service de la collectivité",
                            self.random.randrange(10_000, 2_000_000, 10_000), start, start + timedelta(days=365),
                            status, progress, ratings_count, ratings_sum, self.now - timedelta(days=60),
                            self.now - timedelta(days=2)))
            links.append((action_id, pid))
            for step in range(self.random.randint(1, 5)):
                update_id += 1
                body = self._sentence(20)
                updates.append((update_id, action_id, start + timedelta(days=30 * step), body, f"<p>{body}</p>",
                                status, min(progress, 20 * (step + 1)), self.now - timedelta(days=2)))
        bulk_insert(self.engine, PublicAction.__table__,  # type: ignore[arg-type]
                    ("id", "consultation_id", "title", "description", "description_html", "owner", "budget",
                     "planned_start", "planned_end", "status", "progress", "ratings_count", "ratings_sum",
                     "created_at", "updated_at"), actions)
        bulk_insert(self.engine, ActionProposal.__table__, ("action_id", "proposal_id"), links)  # type: ignore[arg-type]
        bulk_insert(self.engine, ActionUpdate.__table__,  # type: ignore[arg-type]
                    ("id", "action_id", "occurred_on", "body", "body_html", "status", "progress", "created_at"),
                    updates)
        bulk_insert(self.engine, ActionEvaluation.__table__,  # type: ignore[arg-type]
                    ("id", "action_id", "user_id", "rating", "comment", "comment_html", "state", "channel",
                     "created_at", "updated_at"), evaluations)
        log(f"{len(actions):,} actions, {len(updates):,} updates, {len(evaluations):,} ratings")

    # counters

    def counters(self) -> None:
        """Write the denormalised counters computed from the rows inserted above, and the first vote
        of every consultation that has votes (which freezes its rules, as a real vote does)."""
        with self.engine.begin() as connection:
            connection.execute(text(
                "CREATE TEMPORARY TABLE bench_counts (id integer PRIMARY KEY, s integer, c integer)"
            ))
            ids = set(self.supports_count) | set(self.comments_count)
            rows = [{"id": pid, "s": self.supports_count.get(pid, 0), "c": self.comments_count.get(pid, 0)}
                    for pid in ids]
            for start in range(0, len(rows), 50_000):
                connection.execute(text("INSERT INTO bench_counts (id, s, c) VALUES (:id, :s, :c)"),
                                   rows[start:start + 50_000])
            connection.execute(text(
                "UPDATE proposal SET supports_count = (SELECT s FROM bench_counts WHERE bench_counts.id = proposal.id),"
                " comments_count = (SELECT c FROM bench_counts WHERE bench_counts.id = proposal.id)"
                " WHERE id IN (SELECT id FROM bench_counts)"
            ))
            connection.execute(text("DROP TABLE bench_counts"))
            voted = [p.id for p in self.plans if self._voted(p) and p.proposals]
            first_vote = self.now - timedelta(days=40)
            for plan_id in voted:
                connection.execute(text("UPDATE consultation SET first_vote_at = :at WHERE id = :id"),
                                   {"at": first_vote, "id": plan_id})
                connection.execute(text(
                    "UPDATE proposal SET first_vote_at = :at WHERE consultation_id = :id AND supports_count > 0"
                ), {"at": first_vote, "id": plan_id})
        log("counters written")

    def analyse(self) -> None:
        # VACUUM too on PostgreSQL: the counters' UPDATE left a dead version of every proposal,
        # and index-only scans need the visibility map that VACUUM sets (autovacuum would, later).
        statement = "VACUUM ANALYZE" if self.engine.dialect.name == "postgresql" else "ANALYZE"
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(statement))
        log(f"statistics updated ({statement})")


def _migrate(engine: Engine) -> None:
    from alembic import command

    from app.cli import alembic_config

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    config.attributes["configure_logger"] = False
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def generate(database_url: str, scale_name: str, *, seed: int = 2027, now: datetime | None = None) -> dict[str, Any]:
    """Migrate an empty database and fill it; returns what was made (also written by bench/run)."""
    now = now or datetime.now(UTC).replace(microsecond=0)
    engine = make_engine(database_url)
    started = time.monotonic()
    _migrate(engine)
    generator = Generator(engine, SCALES[scale_name], seed=seed, now=now)
    generator.territory()
    generator.residents()
    generator.consultations()
    generator.proposals()
    generator.supports()
    generator.ballots()
    generator.comments()
    generator.actions()
    generator.counters()
    reset_sequences(engine)
    generator.analyse()
    elapsed = time.monotonic() - started
    log(f"done in {elapsed:.0f} s")
    engine.dispose()
    return {"scale": scale_name, "seconds": round(elapsed, 1), "generated_at": now.isoformat(),
            "consultations": {p.slug: {"id": p.id, "method": p.method, "phase": p.phase, "proposals": p.proposals,
                                       "first_proposal_id": p.first_proposal_id} for p in generator.plans},
            "residents": generator.scale.residents}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="an EMPTY database (it is migrated first)")
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--seed", type=int, default=2027)
    parser.add_argument("--manifest", type=Path, help="where to write what was generated (JSON)")
    args = parser.parse_args(argv)
    report = generate(args.database_url, args.scale, seed=args.seed)
    if args.manifest:
        args.manifest.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
