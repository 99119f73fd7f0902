"""`carreau seed demo`: demonstration content created through the services, within every rule,
once only."""

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, inspect
from sqlmodel import Session, SQLModel, col, select

from app import demo
from app.accounts import service as accounts
from app.accounts.models import RoleGrant, User
from app.actions import service as actions_service
from app.actions.models import ActionEvaluation, PublicAction
from app.cli import cli
from app.consultations import service as consultations
from app.consultations.models import Consultation, Phase
from app.consultations.phases import phase_at
from app.core.db import make_engine
from app.proposals.models import Comment, Proposal, ProposalState
from app.territory.models import Axis, Commune
from app.voting.models import Participation, SupportVote
from tests.support import cli_database, invoke, logging_kept, runner

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
PASSWORD = "une phrase de passe pour la démo"


def load(session: Session, *, now: datetime = NOW, password: str | None = None) -> demo.DemoReport:
    return demo.load_demo(session, now=now, terms_version="test", password=password)


def demo_consultations(session: Session) -> dict[str, Consultation]:
    slugs = [spec.slug for spec in demo.CONSULTATIONS]
    return {c.slug: c for c in session.exec(select(Consultation).where(col(Consultation.slug).in_(slugs)))}


def table_counts(session: Session) -> dict[str, int]:
    """Rows in every table of the database."""
    tables = [SQLModel.metadata.tables[name] for name in inspect(session.connection()).get_table_names()
              if name in SQLModel.metadata.tables]
    assert len(tables) >= 15
    return {table.name: session.exec(select(func.count()).select_from(table)).one() for table in tables}


def test_consultations_people_and_roles(session: Session) -> None:
    report = load(session)
    check_consultations(session, report)
    check_people(session)


def check_consultations(session: Session, report: demo.DemoReport) -> None:
    found = demo_consultations(session)
    assert len(found) == report.created["consultations"] == 7
    assert Counter(phase_at(c, NOW) for c in found.values()) == {
        Phase.information: 1, Phase.proposals: 2, Phase.voting: 2, Phase.results: 1, Phase.follow_up: 1}
    axes = {a.id: a.number for a in session.exec(select(Axis))}
    shape = {
        (axes[c.axis_id], phase_at(c, NOW), c.scope_kind, c.scope_code, c.max_supports, c.min_age)
        for c in found.values()
    }
    assert shape == {
        (13, Phase.information, "basin", None, 5, None),
        (1, Phase.proposals, "epci", "246200364", 4, None),
        (3, Phase.proposals, "basin", None, 5, None),
        (2, Phase.voting, "epci", "246200299", 3, None),
        (15, Phase.voting, "basin", None, 0, 16),
        (14, Phase.results, "basin", None, 4, None),
        (4, Phase.follow_up, "basin", None, 3, None),
    }
    for consultation in found.values():
        assert consultation.voting_method == "support"
        assert consultation.status == "published"
        assert not consultation.is_premoderated
        assert len(consultation.summary) > 100
        assert "## " in consultation.body
        assert "\n- " in consultation.body
        assert consultation.created_by_id is not None
    assert sum(bool(c.easy_read_summary and c.easy_read_rules) for c in found.values()) >= 2
    # The first vote froze the rules of the consultations that have votes, and only those.
    assert {axes[c.axis_id] for c in found.values() if c.first_vote_at is not None} == {2, 4, 14, 15}


def check_people(session: Session) -> None:
    users = list(session.exec(select(User).where(col(User.email).like(f"%@{demo.DOMAIN}"))))
    assert len(users) == len(demo.RESIDENTS) + len(demo.STAFF) == 34
    assert all(u.password_hash is None and u.is_email_confirmed and not u.needs_onboarding for u in users)
    residents = [u for u in users if u.email in {p.email for p in demo.RESIDENTS}]
    assert 25 <= len(residents) <= 35
    communes = {c.insee_code: c for c in session.exec(select(Commune))}
    assert len({communes[u.commune_insee or ""].epci_siren for u in residents}) >= 6
    assert len({u.birth_year for u in residents}) >= 20
    levels = Counter(u.verification_level for u in residents)
    assert 3 <= levels["verified"] < levels["declared"]
    # Liévin's residents were verified by Liévin's mediator, the others by the admin.
    mediator = accounts.find_by_email(session, f"mediation.lievin@{demo.DOMAIN}")
    admin = accounts.find_by_email(session, demo.ADMIN_EMAIL)
    assert mediator is not None
    assert admin is not None
    for user in residents:
        if user.verification_level == "verified":
            assert user.verified_by_id == (mediator.id if user.commune_insee == "62510" else admin.id)
    names = [u.display_name or "" for u in residents]
    assert "Nadia B." in names
    assert len(set(names)) == len(names)
    grants = {(g.role, g.scope_key) for g in session.exec(select(RoleGrant))
              if g.user_id in {u.id for u in users}}
    axis_ids = {n: session.exec(select(Axis.id).where(Axis.number == n)).one() for n in (1, 2)}
    assert grants == {("admin", ""), ("moderator", f"axis:{axis_ids[1]}"), ("moderator", f"axis:{axis_ids[2]}"),
                      ("mediator", "commune:62510"), ("evaluator", "")}


def test_contributions_follow_the_rules_and_a_second_run_changes_nothing(session: Session) -> None:
    report = load(session)
    check_contributions(session, report)
    assert report.summary().startswith("Demo: created 34 accounts, 5 roles, 7 consultations, ")
    before = table_counts(session)
    again = load(session, now=NOW + timedelta(days=2))
    assert again.nothing_new
    assert again.summary() == "Demo: nothing new (the demo content is already there)."
    assert table_counts(session) == before


def check_contributions(session: Session, report: demo.DemoReport) -> None:
    found = demo_consultations(session)
    by_id = {c.id: c for c in found.values()}
    all_proposals = list(session.exec(select(Proposal).where(col(Proposal.consultation_id).in_(by_id))))
    assert len(all_proposals) == report.created["proposals"]
    per_consultation = Counter(p.consultation_id for p in all_proposals)
    for consultation in found.values():
        count = per_consultation[consultation.id]
        if phase_at(consultation, NOW) == Phase.information:
            assert count == 0
        else:
            assert 6 <= count <= 15
    for proposal in all_proposals:
        consultation = by_id[proposal.consultation_id]
        # Submitted in the proposals phase by an eligible resident (the service checked; so do we).
        assert phase_at(consultation, proposal.created_at) == Phase.proposals
        assert proposal.created_at < NOW
        author = session.get(User, proposal.author_id)
        assert consultations.check_eligibility(session, author, consultation, now=proposal.created_at)
        paragraphs = [p for p in proposal.body.split("\n\n") if p.strip()]
        assert 2 <= len(paragraphs) <= 5, proposal.title
        assert "lorem" not in proposal.body.lower()
    assert sum(p.commune_insee is not None for p in all_proposals) >= 10
    assert 5 <= sum(p.estimated_cost is not None for p in all_proposals) < len(all_proposals)
    withdrawn = [p for p in all_proposals if p.state == ProposalState.withdrawn]
    assert len(withdrawn) == 1
    assert withdrawn[0].withdrawn_at is not None
    assert {p.state for p in all_proposals} == {ProposalState.published, ProposalState.withdrawn,
                                                ProposalState.accepted, ProposalState.rejected,
                                                ProposalState.evaluating}

    # Supports: cast in the voting phase by eligible residents, within max_supports.
    votes = list(session.exec(select(SupportVote).where(col(SupportVote.consultation_id).in_(by_id))))
    assert len(votes) == report.created["supports"] > 100
    per_voter: Counter[tuple[int, int | None]] = Counter()
    for vote in votes:
        consultation = by_id[vote.consultation_id]
        assert phase_at(consultation, vote.cast_at) == Phase.voting
        assert vote.cast_at < NOW
        voter = session.get(User, vote.voter_id)
        assert voter is not None
        assert consultations.check_eligibility(session, voter, consultation, now=vote.cast_at)
        per_voter[(vote.consultation_id, vote.voter_id)] += 1
    for (consultation_id, _), used in per_voter.items():
        limit = by_id[consultation_id].max_supports
        assert not limit or used <= limit
    assert {by_id[c].slug for c, _ in per_voter} == {demo.CENTRALITES.slug, demo.FRICHES.slug, demo.CULTURE.slug,
                                                     demo.NATURE.slug}
    # The counters agree with the votes, and the participation rows with what each voter may still use.
    supports = Counter(v.proposal_id for v in votes)
    for proposal in all_proposals:
        assert proposal.supports_count == supports[proposal.id]
    counted = Counter((v.consultation_id, v.voter_id) for v in votes
                      if v.proposal_id not in {p.id for p in withdrawn})
    for row in session.exec(select(Participation).where(col(Participation.consultation_id).in_(by_id))):
        assert row.supports_used == counted[(row.consultation_id, row.voter_id)]
    # Rankings worth looking at: several different counts in each voted consultation.
    for slug in (demo.CENTRALITES.slug, demo.FRICHES.slug, demo.CULTURE.slug, demo.NATURE.slug):
        counts = [p.supports_count for p in all_proposals if p.consultation_id == found[slug].id]
        assert len(set(counts)) >= 5
    # Residents too young for the consultation from 16 did not vote in it.
    friches = found[demo.FRICHES.slug]
    voters = {v.voter_id for v in votes if v.consultation_id == friches.id}
    young = session.exec(select(User.id).where(User.birth_year > NOW.year - 16,
                                               col(User.email).like(f"%@{demo.DOMAIN}"))).all()
    assert young
    assert not voters & set(young)

    # Comments: replies among them, counters in agreement.
    comments = list(session.exec(select(Comment).where(col(Comment.proposal_id).in_([p.id for p in all_proposals]))))
    assert 20 <= len(comments) == report.created["comments"] <= 40
    assert sum(c.parent_id is not None for c in comments) >= 5
    assert all(c.created_at < NOW for c in comments)
    per_proposal = Counter(c.proposal_id for c in comments)
    for proposal in all_proposals:
        assert proposal.comments_count == per_proposal[proposal.id]
        assert all(c.created_at >= proposal.created_at for c in comments if c.proposal_id == proposal.id)
    parents = {c.id: c for c in comments}
    for comment in comments:
        if comment.parent_id is not None:
            assert parents[comment.parent_id].created_at < comment.created_at
            assert comment.depth == parents[comment.parent_id].depth + 1


def test_the_follow_up_answers_actions_progress_and_ratings(app: FastAPI, client: TestClient,
                                                            session: Session) -> None:
    """What became of the proposals, in the consultations in their results and follow-up phases:
    answers of each kind, an action for each accepted one, progress updates, and residents' ratings
    during the follow-up phase only, by eligible residents (not those one can sign in as)."""
    report = load(session)
    found = demo_consultations(session)
    by_id = {c.id: c for c in found.values()}
    answered = list(session.exec(select(Proposal).where(col(Proposal.consultation_id).in_(by_id),
                                                        col(Proposal.answered_at).is_not(None))))
    assert len(answered) == report.created["answers"] >= 8
    assert {by_id[p.consultation_id].slug for p in answered} == {demo.CULTURE.slug, demo.NATURE.slug}
    assert Counter(p.state for p in answered) == {"accepted": 4, "rejected": 2, "evaluating": 2}
    for proposal in answered:
        assert proposal.official_answer
        assert proposal.answered_at is not None
        assert proposal.answered_at < NOW
        assert phase_at(by_id[proposal.consultation_id], proposal.answered_at) in (Phase.results, Phase.follow_up)
    items = list(session.exec(select(PublicAction).where(col(PublicAction.consultation_id).in_(by_id))))
    assert len(items) == report.created["actions"] == 4
    for item in items:
        assert actions_service.proposals_of(session, item)[0].state == ProposalState.accepted
        updates = actions_service.updates_of(session, item)
        assert updates
        assert all(u.occurred_on <= NOW.date() for u in updates)
        latest = max(updates, key=lambda u: (u.occurred_on, u.id or 0))
        assert (item.status, item.progress) == (latest.status, latest.progress)
    assert {i.status for i in items} >= {"in_progress", "done"}
    assert sum(len(actions_service.updates_of(session, i)) for i in items) == report.created["updates"]
    ratings = list(session.exec(select(ActionEvaluation)))
    assert len(ratings) == report.created["ratings"] >= 20
    signs_in = {accounts.find_by_email(session, p.email).id for p in demo.RESIDENTS if p.signs_in}  # type: ignore[union-attr]
    for rating in ratings:
        item = session.get(PublicAction, rating.action_id)
        assert item is not None
        consultation = by_id[item.consultation_id]
        assert consultation.slug == demo.NATURE.slug
        assert phase_at(consultation, rating.created_at) == Phase.follow_up
        assert rating.created_at < NOW
        assert rating.user_id not in signs_in
        voter = session.get(User, rating.user_id)
        assert consultations.check_eligibility(session, voter, consultation, now=rating.created_at)
    for item in items:
        mine = [r.rating for r in ratings if r.action_id == item.id]
        assert (item.ratings_count, item.ratings_sum) == (len(mine), sum(mine))
    assert sum(r.comment is not None for r in ratings) >= 3
    # The whole chain on the axis page, and the rating form on an action of the follow-up phase.
    app.state.clock = lambda: NOW
    nature = found[demo.NATURE.slug]
    axis = session.get(Axis, nature.axis_id)
    assert axis is not None
    page = client.get(f"/axes/{axis.slug}")
    assert page.status_code == 200, page.text[:500]
    rated = max(items, key=lambda i: i.ratings_count)
    action_page = client.get(f"/actions/{rated.id}")
    assert "sur 5" in action_page.text
    assert "Connectez-vous pour évaluer cette action" in action_page.text


def test_password_only_when_asked(session: Session) -> None:
    load(session)
    assert session.exec(select(func.count()).select_from(User).where(col(User.password_hash).is_not(None))).one() == 0
    report = load(session, password=PASSWORD)  # existing accounts get it, nothing else changes
    assert report.created == {"passwords": 6}
    assert demo.ADMIN_EMAIL in report.sign_in_accounts
    assert len(report.sign_in_accounts) == 6
    admin = accounts.authenticate(session, email=demo.ADMIN_EMAIL, password=PASSWORD, now=NOW)
    assert admin.email == demo.ADMIN_EMAIL
    assert load(session, password=PASSWORD).nothing_new


def test_a_weak_password_is_refused(session: Session) -> None:
    with pytest.raises(demo.InvalidDemoPassword) as refused:
        load(session, password="court")
    assert "12 caractères" in " ".join(refused.value.errors["password"])
    with pytest.raises(demo.InvalidDemoPassword):  # it contains an address: "admin@…"
        load(session, password="admin-du-bassin-minier")


def test_the_api_lists_the_demo(app: FastAPI, client: TestClient, session: Session) -> None:
    load(session)
    app.state.clock = lambda: NOW
    listed = client.get("/api/v1/consultations").json()
    assert listed["total"] == 7
    assert Counter(item["phase"] for item in listed["items"]) == {
        "information": 1, "proposals": 2, "voting": 2, "results": 1, "follow_up": 1}
    # Those open to participation come first.
    assert {item["phase"] for item in listed["items"][:4]} == {"proposals", "voting"}
    assert client.get("/api/v1/consultations", params={"phase": "voting"}).json()["total"] == 2
    assert client.get("/api/v1/consultations", params={"axis": "culture"}).json()["total"] == 1
    culture = demo_consultations(session)[demo.CULTURE.slug]
    ranked = client.get(f"/api/v1/consultations/{culture.id}/proposals", params={"sort": "supports"}).json()
    assert ranked["total"] == len(demo.CULTURE.proposals)
    assert [p["supports"] for p in ranked["items"]] == sorted(
        (p.supports for p in demo.CULTURE.proposals), reverse=True)
    assert ranked["items"][0]["title"] == "Le Louvre-Lens dans les écoles et les maisons de retraite"
    found = client.get(f"/api/v1/consultations/{culture.id}/proposals", params={"q": "memoire des mineurs"}).json()
    assert [p["title"] for p in found["items"]] == ["Enregistrer la mémoire des anciens mineurs"]


# --- the command


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    with logging_kept(), cli_database(tmp_path, monkeypatch) as path:
        yield path


def test_seed_demo_command(database: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    invoke("db", "upgrade")
    first = invoke("seed", "demo")
    assert "Territory: created" in first
    assert "Demo: created 34 accounts, 5 roles, 7 consultations, " in first
    assert "1 proposal withdrawn by its author" in first
    assert "Set CARREAU_DEMO_PASSWORD to sign in as the demo accounts" in first
    second = invoke("seed", "demo")
    assert "Demo: nothing new (the demo content is already there)." in second
    monkeypatch.setenv("CARREAU_DEMO_PASSWORD", PASSWORD)
    third = invoke("seed", "demo")
    assert "Demo: created 6 passwords." in third
    assert f"/connexion with the password in CARREAU_DEMO_PASSWORD as: {demo.ADMIN_EMAIL}, " in third
    engine = make_engine(f"sqlite:///{database}")
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Consultation)).one() == 7
        assert accounts.authenticate(session, email=demo.ADMIN_EMAIL, password=PASSWORD, now=NOW)
    engine.dispose()


def test_seed_demo_refuses_a_weak_password(database: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    invoke("db", "upgrade")
    monkeypatch.setenv("CARREAU_DEMO_PASSWORD", "court")
    result = runner.invoke(cli, ["seed", "demo"])
    assert result.exit_code == 1
    assert "12 caractères" in result.output
    engine = make_engine(f"sqlite:///{database}")
    with Session(engine) as session:  # nothing was kept
        assert session.exec(select(func.count()).select_from(Consultation)).one() == 0
        assert session.exec(select(func.count()).select_from(User)).one() == 0
    engine.dispose()
