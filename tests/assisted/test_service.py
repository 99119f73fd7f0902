"""Assisted participation, at the service level: who may use the counter and for which communes;
registering, finding and verifying residents; proposals, supports and ballots recorded for them,
each in the audit log under the mediator's name with the channel `assisted`, and counted exactly
like online ones; the one-time claim code."""

from datetime import timedelta

import pytest
from sqlmodel import Session, col, select

from app.accounts import service as accounts
from app.accounts.models import AccountToken, AccountTokenKind, Role, User, VerificationLevel
from app.accounts.passwords import verify_password
from app.accounts.policy import Principal
from app.assisted import service
from app.assisted.schemas import (
    CLAIM_ALPHABET,
    CLAIM_LENGTH,
    ResidentIn,
    ResidentSearch,
    group_claim_code,
    normalize_claim_code,
)
from app.audit.models import AuditEntry
from app.consultations.models import Consultation
from app.core.errors import Forbidden
from app.proposals.models import Proposal
from app.proposals.schemas import ProposalDraft
from app.territory.models import Axis
from app.voting import ballots, results
from app.voting import service as supports
from app.voting.models import Ballot, SupportVote
from tests.factories import NOW, make_consultation, make_proposal, make_user

LIEVIN = "62510"
HENIN_BEAUMONT = "62427"
PASSWORD = "une phrase de passe assez longue"


def principal_of(session: Session, user: User) -> Principal:
    return accounts.load_principal(session, user)


def mediator_of(session: Session, commune: str = LIEVIN, *, name: str = "Malik S., médiateur") -> Principal:
    user = make_user(session, name=name, commune=commune)
    accounts.grant_role(session, user, Role.mediator, now=NOW, commune_insee=commune)
    return principal_of(session, user)


@pytest.fixture
def mediator(session: Session) -> Principal:
    return mediator_of(session)


def register(session: Session, mediator: Principal, *, name: str = "Jeanne Dumont", commune: str = LIEVIN,
             birth_year: int = 1950, **fields: object) -> User:
    data = ResidentIn(display_name=name, commune=commune, birth_year=birth_year, terms_accepted=True, **fields)
    return service.register_resident(session, mediator, data, terms_version="2026-11", now=NOW)


def entries(session: Session, action: str) -> list[AuditEntry]:
    return list(session.exec(select(AuditEntry).where(AuditEntry.action == action).order_by(col(AuditEntry.id))))


def assert_audited(session: Session, action: str, mediator: Principal, target_type: str, target_id: object) -> None:
    found = [e for e in entries(session, action) if e.target_type == target_type and e.target_id == str(target_id)]
    assert len(found) == 1, f"{action} on {target_type} {target_id}: {found}"
    assert found[0].actor_id == mediator.id
    assert found[0].actor_label == mediator.user.display_name
    assert found[0].channel == "assisted"


# --- who may use the counter


@pytest.mark.parametrize("role", [None, Role.moderator, Role.evaluator, Role.resident])
def test_only_mediators_and_admins_use_the_counter(session: Session, role: Role | None) -> None:
    user = make_user(session)
    if role is not None:
        accounts.grant_role(session, user, role, now=NOW)
    someone = principal_of(session, user)
    resident = make_user(session, commune=LIEVIN)
    with pytest.raises(service.NotAMediator):
        service.counter_communes(someone)
    with pytest.raises(service.NotAMediator):
        service.search_residents(session, someone, ResidentSearch(name=resident.display_name or ""))
    with pytest.raises(service.NotAMediator):
        register(session, someone)
    with pytest.raises(service.NotAMediator):
        service.get_resident(session, someone, resident.id or 0)
    with pytest.raises(service.NotAMediator):
        service.issue_claim_code(session, someone, resident.id or 0, now=NOW)
    assert not service.is_counter_agent(someone)


def test_a_moderator_of_an_axis_is_no_mediator(session: Session) -> None:
    user = make_user(session)
    axis = session.exec(select(Axis).where(Axis.number == 1)).one()
    accounts.grant_role(session, user, Role.moderator, now=NOW, axis_id=axis.id)
    with pytest.raises(Forbidden):
        service.counter_communes(principal_of(session, user))


def test_admins_and_platform_mediators_help_everywhere(session: Session) -> None:
    admin = make_user(session)
    accounts.grant_role(session, admin, Role.admin, now=NOW)
    everywhere = make_user(session)
    accounts.grant_role(session, everywhere, Role.mediator, now=NOW)
    for n, principal in enumerate((principal_of(session, admin), principal_of(session, everywhere))):
        assert service.counter_communes(principal) is None
        assert service.is_counter_agent(principal)
        user = register(session, principal, name=f"Personne {n}", commune=HENIN_BEAUMONT)
        assert user.commune_insee == HENIN_BEAUMONT


def test_a_mediator_helps_the_residents_of_their_communes_only(session: Session, mediator: Principal) -> None:
    assert service.counter_communes(mediator) == {LIEVIN}
    assert [c.insee_code for c in service.commune_choices(session, mediator)] == [LIEVIN]
    elsewhere = make_user(session, name="Paul Martin", commune=HENIN_BEAUMONT)
    here = make_user(session, name="Paul Martin", commune=LIEVIN)
    voting = make_consultation(session, phase="voting")
    proposal = make_proposal(session, voting, here)
    ballot_vote = make_consultation(session, phase="voting", voting_method="majority_judgment")
    open_for_proposals = make_consultation(session, phase="proposals")
    draft = ProposalDraft(title="Des bancs sur la place", body="Pour que les anciens puissent s’asseoir.")
    before = session.exec(select(AuditEntry.id)).all()

    with pytest.raises(service.OutsideCommunes):
        register(session, mediator, commune=HENIN_BEAUMONT)
    with pytest.raises(service.OutsideCommunes):
        service.search_residents(session, mediator, ResidentSearch(name="Paul", commune=HENIN_BEAUMONT))
    found = service.search_residents(session, mediator, ResidentSearch(name="Paul Martin"))
    assert [row.user.id for row in found] == [here.id]
    acts = [
        lambda: service.get_resident(session, mediator, elsewhere.id or 0),
        lambda: service.verify_residence(session, mediator, elsewhere.id or 0, now=NOW),
        lambda: service.record_proposal(session, mediator, elsewhere.id or 0, open_for_proposals, draft, now=NOW),
        lambda: service.record_support(session, mediator, elsewhere.id or 0, proposal.id or 0, now=NOW),
        lambda: service.record_ballot(session, mediator, elsewhere.id or 0, ballot_vote, grades={}, now=NOW),
        lambda: service.issue_claim_code(session, mediator, elsewhere.id or 0, now=NOW),
        lambda: service.open_consultations(session, mediator, elsewhere.id or 0, now=NOW),
    ]
    for act in acts:
        with pytest.raises(service.OutsideCommunes) as refused:
            act()
        assert refused.value.status_code == 403
    assert session.exec(select(AuditEntry.id)).all() == before
    assert session.exec(select(SupportVote).where(SupportVote.voter_id == elsewhere.id)).all() == []
    assert session.exec(select(User).where(User.commune_insee == HENIN_BEAUMONT,
                                           User.registered_by_id == mediator.id)).all() == []


def test_a_mediator_of_several_communes(session: Session) -> None:
    mediator = mediator_of(session, LIEVIN)
    accounts.grant_role(session, mediator.user, Role.mediator, now=NOW, commune_insee=HENIN_BEAUMONT)
    mediator = principal_of(session, mediator.user)
    assert service.counter_communes(mediator) == {LIEVIN, HENIN_BEAUMONT}
    assert register(session, mediator, commune=HENIN_BEAUMONT).commune_insee == HENIN_BEAUMONT


def test_unknown_or_erased_residents_are_not_found(session: Session, mediator: Principal) -> None:
    with pytest.raises(service.ResidentNotFound):
        service.get_resident(session, mediator, 10**9)
    gone = make_user(session, commune=LIEVIN)
    accounts.erase_account(session, _NoSessions(), gone, now=NOW)
    with pytest.raises(service.ResidentNotFound):
        service.get_resident(session, mediator, gone.id or 0)


class _NoSessions:
    def delete_for_user(self, user_id: int, *, keep: str | None = None, within: Session | None = None) -> int:
        return 0


# --- registering, finding, verifying


def test_register_a_resident(session: Session, mediator: Principal) -> None:
    user = register(session, mediator, name="  Jeanne   D. ", given_name=" Jeanne ", family_name="Dumont")
    assert user.display_name == "Jeanne D."
    assert (user.given_name, user.family_name) == ("Jeanne", "Dumont")
    assert (user.commune_insee, user.birth_year) == (LIEVIN, 1950)
    assert user.email is None
    assert user.password_hash is None
    assert user.verification_level == VerificationLevel.verified
    assert (user.verified_by_id, user.verified_at) == (mediator.id, NOW)
    assert (user.terms_version, user.terms_accepted_at) == ("2026-11", NOW)
    assert user.registered_by_id == mediator.id
    assert not user.needs_onboarding
    assert_audited(session, "resident.registered", mediator, "user", user.id)
    entry = entries(session, "resident.registered")[0]
    assert entry.after is not None
    assert entry.after["terms_read_by_mediator"] is True
    assert entry.after["verification_level"] == "verified"


def test_registering_needs_the_terms_and_a_plausible_birth_year(session: Session, mediator: Principal) -> None:
    with pytest.raises(accounts.InvalidInput) as refused:
        service.register_resident(session, mediator, ResidentIn(display_name="Jeanne", commune=LIEVIN,
                                                                birth_year=1950), terms_version="t", now=NOW)
    assert set(refused.value.errors) == {"terms_accepted"}
    with pytest.raises(accounts.InvalidInput) as refused:
        register(session, mediator, birth_year=2090)
    assert set(refused.value.errors) == {"birth_year"}
    assert entries(session, "resident.registered") == []


def test_a_probable_duplicate_must_be_confirmed(session: Session, mediator: Principal) -> None:
    """Two accounts for one person would let them vote twice: the same name (display name, or given
    and family names), birth year and commune is refused until the mediator confirms it is someone else."""
    first = register(session, mediator, name="Jeanne D.", given_name="Jeanne", family_name="Dumont")
    online = make_user(session, name="Jeanne Dumont", commune=LIEVIN, birth_year=1950)
    with pytest.raises(service.PossibleDuplicate) as refused:
        register(session, mediator, name="jeanne d")
    assert [row.user.id for row in refused.value.rows] == [first.id]
    with pytest.raises(service.PossibleDuplicate) as refused:
        register(session, mediator, name="Mamie Jeanne", given_name="JEANNE", family_name="Dumont")
    assert [row.user.id for row in refused.value.rows] == [first.id, online.id]
    assert refused.value.status_code == 409
    assert register(session, mediator, name="Jeanne D.", birth_year=1951).id  # another year: someone else
    assert register(session, mediator, name="Jeanne D.", commune=LIEVIN, confirmed_new=True).id
    assert len(entries(session, "resident.registered")) == 3


def test_search_ignores_accents_and_case_and_narrows_by_year(session: Session, mediator: Principal) -> None:
    helene = register(session, mediator, name="Hélène L.", given_name="Hélène", family_name="Lefèvre",
                      birth_year=1948)
    other = register(session, mediator, name="Hélène B.", birth_year=1990)
    make_user(session, name="Hélène Z.", commune=HENIN_BEAUMONT)

    def names(**search: object) -> list[int | None]:
        return [row.user.id for row in service.search_residents(session, mediator, ResidentSearch(**search))]

    assert names(name="helene") == [other.id, helene.id]  # by display name
    assert names(name="LEFEVRE helene") == [helene.id]
    assert names(name="hélène", birth_year=1990) == [other.id]
    assert names(name="hélène", commune=LIEVIN, birth_year=1948) == [helene.id]
    assert names(name="  ") == []
    assert names(name="personne") == []
    rows = service.search_residents(session, mediator, ResidentSearch(name="lefevre"))
    assert rows[0].commune_name == "Liévin"
    assert rows[0].has_online_account is False


def test_verify_the_residence_of_someone_already_online(session: Session, mediator: Principal) -> None:
    resident = make_user(session, commune=LIEVIN)
    assert resident.verification_level == VerificationLevel.declared
    assert service.resident_row(session, mediator, resident.id or 0).has_online_account
    service.verify_residence(session, mediator, resident.id or 0, now=NOW)
    assert resident.verification_level == VerificationLevel.verified
    assert resident.verified_by_id == mediator.id
    assert_audited(session, "residence.verified", mediator, "user", resident.id)


# --- contributions recorded for the resident


def test_open_consultations(session: Session, mediator: Principal) -> None:
    resident = register(session, mediator)
    proposing = make_consultation(session, phase="proposals")
    voting = make_consultation(session, phase="voting")
    elsewhere = make_consultation(session, phase="voting", scope_kind="commune", scope_code=HENIN_BEAUMONT)
    make_consultation(session, phase="results")
    found = service.open_consultations(session, mediator, resident.id or 0, now=NOW)
    assert proposing in found.proposals
    assert voting in found.votes
    assert elsewhere in [c for c, _reason in found.refused]
    assert all(c.id != elsewhere.id for c in found.votes)


def test_each_act_is_traced_with_the_mediator_and_the_channel(session: Session, mediator: Principal) -> None:
    resident = register(session, mediator)
    author = make_user(session)
    proposing = make_consultation(session, phase="proposals")
    draft = ProposalDraft(title="Des bancs sur la place", body="Pour que les anciens puissent s’asseoir.")
    proposal = service.record_proposal(session, mediator, resident.id or 0, proposing, draft, now=NOW)
    assert (proposal.author_id, proposal.channel, proposal.state) == (resident.id, "assisted", "published")
    assert_audited(session, "proposal.submitted", mediator, "proposal", proposal.id)

    supporting = make_consultation(session, phase="voting", max_supports=2)
    supported = make_proposal(session, supporting, author)
    state = service.record_support(session, mediator, resident.id or 0, supported.id or 0, now=NOW)
    assert (state.supported, state.supports, state.remaining) == (True, 1, 1)
    vote = session.exec(select(SupportVote).where(SupportVote.voter_id == resident.id)).one()
    assert vote.channel == "assisted"
    assert_audited(session, "support.added", mediator, "proposal", supported.id)
    again = service.record_support(session, mediator, resident.id or 0, supported.id or 0, now=NOW)
    assert again.supports == 1  # a repeat changes nothing, and is not audited twice
    assert len(entries(session, "support.added")) == 1

    taken_back = service.withdraw_support(session, mediator, resident.id or 0, supported.id or 0, now=NOW)
    assert (taken_back.supported, taken_back.supports, taken_back.remaining) == (False, 0, 2)
    assert_audited(session, "support.removed", mediator, "proposal", supported.id)
    service.withdraw_support(session, mediator, resident.id or 0, supported.id or 0, now=NOW)
    assert len(entries(session, "support.removed")) == 1  # nothing more to take back, nothing audited

    judging = make_consultation(session, phase="voting", voting_method="majority_judgment")
    graded = [make_proposal(session, judging, author) for _ in range(2)]
    view = service.record_ballot(session, mediator, resident.id or 0, judging,
                                 grades={graded[0].id or 0: "bien", graded[1].id or 0: "passable"}, now=NOW)
    assert view.channel == "assisted"
    assert_audited(session, "ballot.cast", mediator, "consultation", judging.id)

    budgeting = make_consultation(session, phase="voting", voting_method="budget", budget_total=10_000)
    costed = make_proposal(session, budgeting, author, estimated_cost=4000)
    view = service.record_ballot(session, mediator, resident.id or 0, budgeting, proposal_ids=[costed.id or 0],
                                 now=NOW)
    assert (view.proposals, view.channel) == ([costed.id], "assisted")
    assert_audited(session, "ballot.cast", mediator, "consultation", budgeting.id)
    assert {b.channel for b in session.exec(select(Ballot).where(Ballot.voter_id == resident.id))} == {"assisted"}
    service.record_support(session, mediator, resident.id or 0, supported.id or 0, now=NOW)
    done = service.participation_of(session, mediator, resident.id or 0)
    assert done.proposals == [(proposal, proposing)]
    assert done.supports == [(supporting, 1)]
    assert done.ballots == [judging, budgeting]


def test_the_resident_must_be_eligible_as_online(session: Session, mediator: Principal) -> None:
    resident = register(session, mediator, birth_year=NOW.year - 14)
    adults = make_consultation(session, phase="voting", min_age=16)
    proposal = make_proposal(session, adults, make_user(session))
    with pytest.raises(supports.NotEligible):
        service.record_support(session, mediator, resident.id or 0, proposal.id or 0, now=NOW)
    closed = make_consultation(session, phase="results", voting_method="majority_judgment")
    with pytest.raises(ballots.VotingClosed):
        service.record_ballot(session, mediator, resident.id or 0, closed, grades={}, now=NOW)
    assert entries(session, "support.added") == []
    assert entries(session, "ballot.cast") == []


def test_verification_opens_consultations_that_require_it(session: Session, mediator: Principal) -> None:
    resident = make_user(session, commune=LIEVIN)
    strict = make_consultation(session, phase="voting", required_verification="verified")
    proposal = make_proposal(session, strict, make_user(session))
    refusal = service.voting_refusal(session, principal_of(session, resident), strict, now=NOW)
    assert isinstance(refusal, supports.NotEligible)
    service.verify_residence(session, mediator, resident.id or 0, now=NOW)
    assert service.record_support(session, mediator, resident.id or 0, proposal.id or 0, now=NOW).supported


def _twin(session: Session, method: str, costs: list[int | None]) -> tuple[Consultation, list[Proposal]]:
    consultation = make_consultation(session, phase="voting", voting_method=method,
                                     budget_total=10_000 if method == "budget" else None)
    author = make_user(session)
    made = [make_proposal(session, consultation, author, title=f"Proposition {n} du même vote", estimated_cost=cost,
                          now=NOW - timedelta(days=30 - n))
            for n, cost in enumerate(costs)]
    return consultation, made


VOTES = {
    "support": [[0, 1], [0], [2, 0], [1]],
    "majority_judgment": [["bien", "passable", "excellent"], ["tres_bien", "a_rejeter", "bien"],
                          ["passable", "bien", "insuffisant"], ["excellent", "bien", "bien"]],
    "budget": [[0, 1], [2], [0, 2], [1, 2]],
}


@pytest.mark.parametrize("method", ["support", "majority_judgment", "budget"])
def test_assisted_votes_count_exactly_like_online_ones(session: Session, mediator: Principal, method: str) -> None:
    """The same votes, cast online in one consultation and at the counter in its twin, give the
    same results, participants and counts: only the channel differs."""
    costs: list[int | None] = [4000, 3000, 5000]
    online, online_proposals = _twin(session, method, costs)
    assisted, assisted_proposals = _twin(session, method, costs)
    for votes in VOTES[method]:
        voter = make_user(session, commune=LIEVIN)
        at_counter = register(session, mediator, name=f"Voisin de {voter.display_name}")
        for consultation, made, cast in (
            (online, online_proposals, None),
            (assisted, assisted_proposals, at_counter),
        ):
            if method == "support":
                for index in votes:
                    if cast is None:
                        supports.add_support(session, principal_of(session, voter), made[index], now=NOW)
                    else:
                        service.record_support(session, mediator, cast.id or 0, made[index].id or 0, now=NOW)
                continue
            grades = {made[i].id or 0: grade for i, grade in enumerate(votes)} if method != "budget" else None
            chosen = [made[int(i)].id or 0 for i in votes] if method == "budget" else None
            if cast is None:
                ballots.cast_ballot(session, principal_of(session, voter), consultation, grades=grades,
                                    proposal_ids=chosen, now=NOW)
            else:
                service.record_ballot(session, mediator, cast.id or 0, consultation, grades=grades,
                                      proposal_ids=chosen, now=NOW)

    def tally(consultation: Consultation, made: list[Proposal]) -> tuple[int, list[dict[str, object]]]:
        index = {p.id: n for n, p in enumerate(made)}
        participants, items = results.compute(session, consultation)
        return participants, [{**item, "proposal_id": index[item["proposal_id"]]} for item in items]

    assert tally(assisted, assisted_proposals) == tally(online, online_proposals)
    assert tally(online, online_proposals)[0] == len(VOTES[method])
    for online_proposal, assisted_proposal in zip(online_proposals, assisted_proposals, strict=True):
        session.refresh(online_proposal)
        session.refresh(assisted_proposal)
        assert assisted_proposal.supports_count == online_proposal.supports_count
    table = SupportVote if method == "support" else Ballot
    channels = {c.id: set(session.exec(select(table.channel).where(table.consultation_id == c.id)))
                for c in (online, assisted)}
    assert channels == {online.id: {"online"}, assisted.id: {"assisted"}}


# --- the claim code


def test_claim_code_format() -> None:
    code = "ABCDEFGHJKMN"
    assert group_claim_code(code) == "ABCD-EFGH-JKMN"
    assert normalize_claim_code(" abcd-efgh jkmn ") == code
    assert not set("01ILO") & set(CLAIM_ALPHABET)


def test_issue_a_claim_code(session: Session, mediator: Principal) -> None:
    resident = register(session, mediator)
    user, code, expires_at = service.issue_claim_code(session, mediator, resident.id or 0, now=NOW)
    assert user.id == resident.id
    assert len(code) == CLAIM_LENGTH
    assert set(code) <= set(CLAIM_ALPHABET)
    assert expires_at == NOW + timedelta(days=30)
    token = session.exec(select(AccountToken).where(AccountToken.user_id == resident.id)).one()
    assert token.kind == AccountTokenKind.claim_account
    assert token.token_hash == accounts.digest(code)  # only the hash is kept
    assert code not in token.token_hash
    assert_audited(session, "claim_code.issued", mediator, "user", resident.id)
    assert all(code not in str(e.after) for e in session.exec(select(AuditEntry)))


def test_a_claim_code_is_single_use(session: Session, mediator: Principal) -> None:
    resident = register(session, mediator)
    _user, code, _ = service.issue_claim_code(session, mediator, resident.id or 0, now=NOW)
    later = NOW + timedelta(days=3)
    user, confirmation = service.claim_account(session, code=group_claim_code(code).lower(),
                                               email=" Jeanne.Dumont@Exemple.fr ", password=PASSWORD, now=later)
    assert user.id == resident.id
    assert user.email == "jeanne.dumont@exemple.fr"
    assert not user.is_email_confirmed
    assert verify_password(PASSWORD, user.password_hash)
    assert user.last_sign_in_at == later
    assert user.registered_by_id == mediator.id  # still known as registered at the counter
    token = session.exec(select(AccountToken).where(AccountToken.user_id == resident.id,
                                                    AccountToken.kind == AccountTokenKind.claim_account)).one()
    assert token.used_at == later
    assert accounts.confirm_email(session, confirmation, now=later).is_email_confirmed
    assert accounts.authenticate(session, email=user.email or "", password=PASSWORD, now=later).id == resident.id
    with pytest.raises(service.InvalidClaimCode):
        service.claim_account(session, code=code, email="autre@exemple.fr", password=PASSWORD, now=later)
    with pytest.raises(service.HasOnlineAccount):  # nothing more to claim
        service.issue_claim_code(session, mediator, resident.id or 0, now=later)
    [claimed] = entries(session, "account.claimed")
    assert (claimed.actor_id, claimed.target_id) == (resident.id, str(resident.id))


def test_wrong_expired_or_replaced_codes_are_refused_alike(session: Session, mediator: Principal) -> None:
    resident = register(session, mediator)
    _user, first, _ = service.issue_claim_code(session, mediator, resident.id or 0, now=NOW)
    _user, second, expires_at = service.issue_claim_code(session, mediator, resident.id or 0, now=NOW)
    messages = set()
    for code, moment in ((first, NOW), ("ABCDEFGHJKMN", NOW), ("court", NOW), ("", NOW), (second, expires_at)):
        with pytest.raises(service.InvalidClaimCode) as refused:
            service.claim_account(session, code=code, email="jeanne@exemple.fr", password=PASSWORD, now=moment)
        messages.add(refused.value.message)
    assert len(messages) == 1
    assert resident.email is None
    user, _ = service.claim_account(session, code=second, email="jeanne@exemple.fr", password=PASSWORD,
                                    now=expires_at - timedelta(seconds=1))
    assert user.id == resident.id


def test_a_refused_form_keeps_the_code_usable(session: Session, mediator: Principal) -> None:
    resident = register(session, mediator)
    make_user(session, email="prise@exemple.fr")
    _user, code, _ = service.issue_claim_code(session, mediator, resident.id or 0, now=NOW)
    with pytest.raises(accounts.InvalidInput) as refused:
        service.claim_account(session, code=code, email="pas-une-adresse", password="court", now=NOW)
    assert set(refused.value.errors) == {"email", "password"}
    with pytest.raises(accounts.InvalidInput) as refused:
        service.claim_account(session, code=code, email="prise@exemple.fr", password=PASSWORD, now=NOW)
    assert set(refused.value.errors) == {"email"}
    user, _ = service.claim_account(session, code=code, email="libre@exemple.fr", password=PASSWORD, now=NOW)
    assert user.email == "libre@exemple.fr"


def test_no_code_for_someone_with_an_online_account(session: Session, mediator: Principal) -> None:
    online = make_user(session, commune=LIEVIN)
    with pytest.raises(service.HasOnlineAccount):
        service.issue_claim_code(session, mediator, online.id or 0, now=NOW)
