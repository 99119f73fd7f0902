"""Proposals and comments: submit, edit, withdraw (supports given back), list (sorts, filters,
pages), comments with two levels of replies, counters."""

from contextlib import nullcontext
from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import Role
from app.accounts.policy import Principal
from app.accounts.service import ANONYMOUS_NAME
from app.accounts.sessions import DatabaseSessionStore
from app.consultations.models import Consultation
from app.core.errors import NotFound
from app.proposals import service
from app.proposals.models import Comment, Proposal
from app.proposals.schemas import CommentDraft, CommentPatch, ProposalDraft, ProposalPatch
from app.territory.models import Axis
from app.voting import service as voting
from app.voting.models import Participation
from tests.factories import NOW, make_consultation, make_proposal, make_user, phase_dates

DAY = timedelta(days=1)
LENS_LIEVIN = "246200364"
TITLE = "Des jardins partagés dans la cité"
BODY = "Transformer les friches de la cité en **jardins partagés**."


def resident(session: Session, **fields: object) -> Principal:
    return accounts.load_principal(session, make_user(session, **fields))


def moderator(session: Session, axis_number: int = 1) -> Principal:
    user = make_user(session)
    axis = session.exec(select(Axis).where(Axis.number == axis_number)).one()
    accounts.grant_role(session, user, Role.moderator, now=NOW, axis_id=axis.id)
    return accounts.load_principal(session, user)


def draft(**fields: object) -> ProposalDraft:
    return ProposalDraft(**({"title": TITLE, "body": BODY} | fields))


def submit(session: Session, consultation: Consultation, principal: Principal | None = None,
           **fields: object) -> Proposal:
    return service.submit(session, principal or resident(session), consultation, draft(**fields), now=NOW)


def move_to(session: Session, consultation: Consultation, phase: str) -> None:
    """Move the consultation's dates so that NOW falls in `phase` (a moderator may do so at any time)."""
    for name, value in phase_dates(phase).items():
        setattr(consultation, name, value)
    session.flush()


# --- input limits


@pytest.mark.parametrize(("title", "ok"), [("x" * 9, False), ("x" * 10, True), ("x" * 150, True), ("x" * 151, False),
                                           ("   " + "x" * 9 + "   ", False), ("", False)])
def test_title_length(title: str, ok: bool) -> None:
    if ok:
        assert ProposalDraft(title=title, body=BODY).title == title
        assert ProposalPatch(title=title).title == title
    else:
        with pytest.raises(ValidationError):
            ProposalDraft(title=title, body=BODY)
        with pytest.raises(ValidationError):
            ProposalPatch(title=title)


@pytest.mark.parametrize(("length", "ok"), [(14, False), (15, True), (5000, True), (5001, False)])
def test_body_length(length: int, ok: bool) -> None:
    if ok:
        assert len(ProposalDraft(title=TITLE, body="b" * length).body) == length
    else:
        with pytest.raises(ValidationError):
            ProposalDraft(title=TITLE, body="b" * length)
        with pytest.raises(ValidationError):
            ProposalPatch(body="b" * length)


def test_control_characters_and_surrounding_spaces_are_dropped() -> None:
    cleaned = ProposalDraft(title="  Un\x00 titre\x1b assez long  ", body="Ligne un\n\tLigne deux\x07 fin du texte")
    assert cleaned.title == "Un titre assez long"
    assert cleaned.body == "Ligne un\n\tLigne deux fin du texte"
    with pytest.raises(ValidationError):  # NULs do not count towards the minimum
        ProposalDraft(title="\x00" * 20 + "court", body=BODY)


@pytest.mark.parametrize("commune", ["6251", "625100", "abcde", "62 51"])
def test_commune_codes_are_checked(commune: str) -> None:
    with pytest.raises(ValidationError):
        draft(commune=commune)
    assert draft(commune="2A004").commune == "2A004"  # Corsican codes have letters


def test_costs_are_positive() -> None:
    with pytest.raises(ValidationError):
        draft(estimated_cost=-1)
    with pytest.raises(ValidationError):
        draft(unknown="field")


# --- submit


def test_an_eligible_resident_submits_in_the_proposals_phase(session: Session) -> None:
    consultation = make_consultation(session, phase="proposals")
    author = resident(session)
    proposal = submit(session, consultation, author, title="Une piste cyclable à Liévin",
                      body="Relier **Liévin** et Lens à vélo, en sécurité.", commune="62510", estimated_cost=12000)
    assert proposal.id is not None
    assert proposal.state == "published"
    assert proposal.author_id == author.id
    assert (proposal.commune_insee, proposal.estimated_cost) == ("62510", 12000)
    assert proposal.body_html == "<p>Relier <strong>Liévin</strong> et Lens à vélo, en sécurité.</p>\n"
    assert proposal.search_text == "une piste cyclable a lievin relier lievin et lens a velo en securite"
    assert (proposal.supports_count, proposal.comments_count) == (0, 0)
    assert proposal.channel == "online"
    assert proposal.created_at == proposal.updated_at == NOW
    assert service.get(session, proposal.id) is proposal


@pytest.mark.parametrize("phase", ["information", "voting", "results", "follow_up"])
def test_submitting_outside_the_proposals_phase_is_409(session: Session, phase: str) -> None:
    consultation = make_consultation(session, phase=phase)
    with pytest.raises(service.PhaseClosed) as refused:
        submit(session, consultation)
    assert (refused.value.status_code, refused.value.code) == (409, "phase-closed")
    assert "phase de propositions" in refused.value.message


def test_submitting_to_an_unpublished_consultation_is_refused(session: Session) -> None:
    for status in ("draft", "archived"):
        with pytest.raises(service.PhaseClosed):
            submit(session, make_consultation(session, phase="proposals", status=status), moderator(session))


def test_submitting_from_outside_the_scope_is_403(session: Session) -> None:
    consultation = make_consultation(session, phase="proposals", scope_kind="epci", scope_code=LENS_LIEVIN)
    with pytest.raises(service.NotEligible) as refused:
        submit(session, consultation, resident(session, commune="59002"))
    assert (refused.value.status_code, refused.value.code) == (403, "not-eligible")
    assert refused.value.message == (
        "Cette consultation est réservée aux habitants de la Communauté d’agglomération de Lens - Liévin."
    )


@pytest.mark.parametrize(
    ("fields", "rules"),
    [
        ({"commune": None}, {}),  # onboarding not finished
        ({"verification": "declared"}, {"required_verification": "verified"}),
        ({"birth_year": NOW.year - 15}, {"min_age": 16}),
        ({"birth_year": None}, {"min_age": 16}),
    ],
)
def test_ineligible_residents_may_not_submit(session: Session, fields: dict[str, object],
                                             rules: dict[str, object]) -> None:
    consultation = make_consultation(session, phase="proposals", **rules)
    with pytest.raises(service.NotEligible):
        submit(session, consultation, resident(session, **fields))


def test_a_commune_outside_the_territory_is_422(session: Session) -> None:
    with pytest.raises(service.InvalidProposal) as refused:
        submit(session, make_consultation(session, phase="proposals"), commune="75056")
    assert refused.value.status_code == 422


def test_a_budget_proposal_needs_a_cost(session: Session) -> None:
    consultation = make_consultation(session, phase="proposals", voting_method="budget", budget_total=100_000)
    with pytest.raises(service.InvalidProposal):
        submit(session, consultation)
    assert submit(session, consultation, estimated_cost=5000).estimated_cost == 5000


def test_premoderated_proposals_wait_unseen(session: Session) -> None:
    consultation = make_consultation(session, phase="proposals", is_premoderated=True)
    author = resident(session)
    proposal = submit(session, consultation, author)
    assert proposal.state == "pending"
    assert proposal.id is not None
    for stranger in (None, resident(session)):
        with pytest.raises(service.ProposalNotFound):
            service.get(session, proposal.id, principal=stranger)
    assert service.get(session, proposal.id, principal=author) is proposal
    assert service.get(session, proposal.id, principal=moderator(session)) is proposal
    assert service.list_proposals(session, consultation).total == 0


def test_a_proposal_of_a_draft_consultation_is_hidden_with_it(session: Session) -> None:
    consultation = make_consultation(session, status="draft")
    proposal = make_proposal(session, consultation, make_user(session))
    with pytest.raises(NotFound):
        service.get(session, proposal.id or 0)
    assert service.get(session, proposal.id or 0, principal=moderator(session)) is proposal
    with pytest.raises(service.ProposalNotFound):
        service.get(session, 10**9)


# --- edit


def test_the_author_edits_in_the_proposals_phase(session: Session) -> None:
    consultation = make_consultation(session, phase="proposals")
    author = resident(session)
    proposal = submit(session, consultation, author, commune="62510")
    service.edit(session, author, proposal, ProposalPatch(title="Un verger partagé dans la cité",
                                                          body="Planter des *arbres fruitiers*, ensemble.",
                                                          commune=None, estimated_cost=800), now=NOW + DAY)
    assert proposal.title == "Un verger partagé dans la cité"
    assert proposal.body_html == "<p>Planter des <em>arbres fruitiers</em>, ensemble.</p>\n"
    assert proposal.search_text == "un verger partage dans la cite planter des arbres fruitiers ensemble"
    assert (proposal.commune_insee, proposal.estimated_cost) == (None, 800)
    assert proposal.updated_at == NOW + DAY
    assert proposal.created_at == NOW
    # What is not sent stays.
    service.edit(session, author, proposal, ProposalPatch(commune="62498"), now=NOW)
    assert (proposal.title, proposal.commune_insee, proposal.estimated_cost) == (
        "Un verger partagé dans la cité", "62498", 800)


def test_only_the_author_edits(session: Session) -> None:
    consultation = make_consultation(session, phase="proposals")
    proposal = submit(session, consultation)
    for other in (resident(session), moderator(session)):
        with pytest.raises(service.NotTheAuthor) as refused:
            service.edit(session, other, proposal, ProposalPatch(title="Pris par quelqu’un d’autre"), now=NOW)
        assert refused.value.status_code == 403
    assert proposal.title == TITLE


@pytest.mark.parametrize("phase", ["information", "voting", "results", "follow_up"])
def test_no_edit_outside_the_proposals_phase(session: Session, phase: str) -> None:
    consultation = make_consultation(session, phase="proposals")
    author = resident(session)
    proposal = submit(session, consultation, author)
    move_to(session, consultation, phase)
    with pytest.raises(service.EditLocked) as refused:
        service.edit(session, author, proposal, ProposalPatch(title="Trop tard pour changer"), now=NOW)
    assert (refused.value.status_code, refused.value.code) == (409, "edit-locked")
    assert not service.can_edit(author, proposal, consultation, NOW)


def test_no_edit_after_the_first_vote_even_if_the_proposals_phase_comes_back(session: Session) -> None:
    consultation = make_consultation(session, phase="proposals")
    author = resident(session)
    proposal = submit(session, consultation, author)
    assert service.can_edit(author, proposal, consultation, NOW)
    move_to(session, consultation, "voting")
    voting.add_support(session, resident(session), proposal, now=NOW)
    move_to(session, consultation, "proposals")  # a moderator extends the proposals phase
    session.refresh(proposal)
    assert proposal.first_vote_at == NOW
    with pytest.raises(service.EditLocked):
        service.edit(session, author, proposal, ProposalPatch(title="Changer après les votes"), now=NOW)


def test_no_edit_once_withdrawn(session: Session) -> None:
    consultation = make_consultation(session, phase="proposals")
    author = resident(session)
    proposal = submit(session, consultation, author)
    service.withdraw(session, author, proposal, now=NOW)
    with pytest.raises(service.EditLocked):
        service.edit(session, author, proposal, ProposalPatch(title="Revenir sur le retrait"), now=NOW)


def test_an_edit_to_a_commune_outside_the_territory_is_422(session: Session) -> None:
    consultation = make_consultation(session, phase="proposals")
    author = resident(session)
    proposal = submit(session, consultation, author)
    with pytest.raises(service.InvalidProposal):
        service.edit(session, author, proposal, ProposalPatch(commune="75056"), now=NOW)


# --- withdraw


@pytest.mark.parametrize("phase", ["proposals", "voting", "results", "follow_up"])
def test_the_author_withdraws_at_any_time(session: Session, phase: str) -> None:
    consultation = make_consultation(session, phase=phase)
    author = resident(session)
    proposal = make_proposal(session, consultation, author.user)
    service.withdraw(session, author, proposal, now=NOW)
    assert (proposal.state, proposal.withdrawn_at, proposal.updated_at) == ("withdrawn", NOW, NOW)
    service.withdraw(session, author, proposal, now=NOW + DAY)  # again: nothing changes
    assert proposal.withdrawn_at == NOW
    # It stays visible to everyone, as withdrawn.
    assert service.get(session, proposal.id or 0, principal=None) is proposal
    page = service.list_proposals(session, consultation)
    assert [(row.proposal.id, row.proposal.state) for row in page.items] == [(proposal.id, "withdrawn")]


def test_only_the_author_withdraws(session: Session) -> None:
    consultation = make_consultation(session)
    proposal = make_proposal(session, consultation, make_user(session))
    with pytest.raises(service.NotTheAuthor):
        service.withdraw(session, moderator(session), proposal, now=NOW)
    assert proposal.state == "published"


def used(session: Session, consultation: Consultation, principal: Principal) -> int:
    row = session.exec(select(Participation).where(Participation.consultation_id == consultation.id,
                                                   Participation.voter_id == principal.id)).one()
    session.refresh(row)
    return row.supports_used


def test_withdrawing_gives_the_supporters_their_support_back(session: Session) -> None:
    consultation = make_consultation(session, max_supports=1)
    author = resident(session)
    withdrawn = make_proposal(session, consultation, author.user)
    other = make_proposal(session, consultation, make_user(session))
    supporters = [resident(session) for _ in range(3)]
    for supporter in supporters:
        voting.add_support(session, supporter, withdrawn, now=NOW)
    bystander = resident(session)
    voting.add_support(session, bystander, other, now=NOW)
    with pytest.raises(voting.SupportLimitReached):
        voting.add_support(session, supporters[0], other, now=NOW)

    service.withdraw(session, author, withdrawn, now=NOW)
    for supporter in supporters:
        assert used(session, consultation, supporter) == 0
        assert voting.remaining_supports(session, consultation, supporter.id) == 1
    assert used(session, consultation, bystander) == 1  # not a supporter of the withdrawn one
    state = voting.add_support(session, supporters[0], other, now=NOW)
    assert (state.supported, state.supports, state.remaining) == (True, 2, 0)
    # The withdrawn proposal takes no new support.
    with pytest.raises(voting.NotSupportable):
        voting.add_support(session, resident(session), withdrawn, now=NOW)


def test_a_withdrawn_proposal_no_longer_counts_in_the_ranking(session: Session) -> None:
    consultation = make_consultation(session)
    author = resident(session)
    withdrawn = make_proposal(session, consultation, author.user)
    runner_up = make_proposal(session, consultation, make_user(session))
    last = make_proposal(session, consultation, make_user(session))
    for _ in range(3):
        voting.add_support(session, resident(session), withdrawn, now=NOW)
    voting.add_support(session, resident(session), runner_up, now=NOW)
    assert [row.proposal.id for row in service.list_proposals(session, consultation, sort="supports").items] == [
        withdrawn.id, runner_up.id, last.id]
    service.withdraw(session, author, withdrawn, now=NOW)
    ranking = [row.proposal.id for row in service.list_proposals(session, consultation, sort="supports").items]
    assert ranking == [runner_up.id, last.id, withdrawn.id]


# --- list


def proposals_of(session: Session, consultation: Consultation, count: int, **fields: object) -> list[Proposal]:
    return [make_proposal(session, consultation, make_user(session), **fields) for _ in range(count)]


def listed(session: Session, consultation: Consultation, **options: object) -> list[int | None]:
    return [row.proposal.id for row in service.list_proposals(session, consultation, **options).items]  # type: ignore[arg-type]


def test_sort_by_supports_recent_and_comments(session: Session) -> None:
    consultation = make_consultation(session)
    a, b, c, d = (make_proposal(session, consultation, make_user(session), now=NOW - DAY * n,
                                supports_count=s, comments_count=k)
                  for n, s, k in ((3, 5, 0), (1, 0, 7), (2, 5, 2), (0, 1, 2)))
    assert listed(session, consultation, sort="supports") == [a.id, c.id, d.id, b.id]  # ties: the older id first
    assert listed(session, consultation, sort="recent") == [d.id, b.id, c.id, a.id]
    assert listed(session, consultation, sort="comments") == [b.id, c.id, d.id, a.id]


def test_random_order_is_stable_for_a_seed_and_changes_with_it(session: Session) -> None:
    consultation = make_consultation(session)
    made = proposals_of(session, consultation, 30)
    everyone = sorted(p.id for p in made)
    first = listed(session, consultation, sort="random", seed=1, limit=100)
    assert sorted(first) == everyone
    assert listed(session, consultation, sort="random", seed=1, limit=100) == first
    orders = {tuple(listed(session, consultation, sort="random", seed=seed, limit=100)) for seed in range(1, 11)}
    assert len(orders) == 10  # even neighbouring seeds give different orders
    assert tuple(everyone) not in orders
    assert tuple(reversed(everyone)) not in orders
    # Pages of one seed are slices of one order: nothing twice, nothing missed.
    pages = [listed(session, consultation, sort="random", seed=12345, limit=7, offset=o) for o in range(0, 30, 7)]
    assert [i for page in pages for i in page] == listed(session, consultation, sort="random", seed=12345, limit=100)


def test_random_order_gives_every_proposal_its_chance_on_the_first_page(session: Session) -> None:
    """Over 150 visitors (seeds), every proposal comes first-page several times, and none
    hogs it: the shuffle is fair, not a rotation of one fixed order."""
    consultation = make_consultation(session)
    made = proposals_of(session, consultation, 60)
    shown = {p.id: 0 for p in made}
    for seed in range(1, 151):
        for proposal_id in listed(session, consultation, sort="random", seed=seed, limit=10):
            shown[proposal_id] += 1
    # 150 first pages of 10 out of 60: 25 each on average.
    assert min(shown.values()) >= 8, sorted(shown.values())
    assert max(shown.values()) <= 50, sorted(shown.values())


def test_random_order_with_a_large_seed_and_large_ids(session: Session) -> None:
    consultation = make_consultation(session)
    big = make_proposal(session, consultation, make_user(session), id=2_000_000_000)
    small = make_proposal(session, consultation, make_user(session))
    for seed in (0, 1, 2**31 - 1, 2**31):
        assert sorted(listed(session, consultation, sort="random", seed=seed)) == sorted([big.id, small.id])


def test_filters_and_pages(session: Session) -> None:
    consultation = make_consultation(session)
    lievin = proposals_of(session, consultation, 3, commune_insee="62510")
    lens = proposals_of(session, consultation, 2, commune_insee="62498")
    withdrawn = make_proposal(session, consultation, make_user(session), commune_insee="62510", state="withdrawn")
    for state in ("hidden", "pending"):
        make_proposal(session, consultation, make_user(session), commune_insee="62510", state=state)
    make_proposal(session, make_consultation(session), make_user(session))  # another consultation's
    everything = service.list_proposals(session, consultation, sort="recent")
    assert everything.total == 6
    assert set(listed(session, consultation, commune="62498")) == {p.id for p in lens}
    by_commune = service.list_proposals(session, consultation, commune="62510")
    assert by_commune.total == 4
    assert {row.proposal.id for row in by_commune.items} == {p.id for p in lievin} | {withdrawn.id}
    assert listed(session, consultation, state="withdrawn") == [withdrawn.id]
    assert len(listed(session, consultation, state="published")) == 5
    # Asking for states the public may not see shows what the public sees.
    for state in ("hidden", "pending", "nonsense", ""):
        assert service.list_proposals(session, consultation, state=state).total == 6
    page = service.list_proposals(session, consultation, sort="recent", limit=4, offset=4)
    assert (page.total, len(page.items), page.limit, page.offset) == (6, 2, 4, 4)
    assert service.list_proposals(session, consultation, limit=10_000).limit == service.MAX_PAGE
    assert service.list_proposals(session, consultation, limit=0).limit == 1
    assert service.list_proposals(session, consultation, offset=-5).offset == 0
    assert service.list_proposals(session, consultation, offset=100).items == []


def test_authors_names_and_erased_authors(session: Session) -> None:
    consultation = make_consultation(session)
    named = make_proposal(session, consultation, make_user(session, name="Angela Dubois"))
    gone_author = make_user(session, name="Bruno Martin")
    gone = make_proposal(session, consultation, gone_author)
    accounts.erase_account(session, DatabaseSessionStore(lambda **_options: nullcontext(session)), gone_author,
                           now=NOW)
    names = {row.proposal.id: row.author_name for row in service.list_proposals(session, consultation).items}
    assert names == {named.id: "Angela Dubois", gone.id: ANONYMOUS_NAME}


def test_counts_by_state(session: Session) -> None:
    consultation = make_consultation(session)
    proposals_of(session, consultation, 2)
    make_proposal(session, consultation, make_user(session), state="withdrawn")
    assert service.counts_by_state(session, consultation) == {"published": 2, "withdrawn": 1}


# --- comments


def comment(session: Session, proposal: Proposal, principal: Principal | None = None, body: str = "Bonne idée !",
            parent: Comment | None = None) -> Comment:
    return service.add_comment(session, principal or resident(session), proposal,
                               CommentDraft(body=body, parent_id=parent.id if parent else None), now=NOW)


def comments_count(session: Session, proposal: Proposal) -> int:
    session.refresh(proposal)
    return proposal.comments_count


def test_two_levels_of_replies_and_no_more(session: Session) -> None:
    proposal = make_proposal(session, make_consultation(session), make_user(session))
    root = comment(session, proposal, body="Je soutiens **fort**.")
    reply = comment(session, proposal, parent=root)
    reply_to_reply = comment(session, proposal, parent=reply)
    assert (root.depth, reply.depth, reply_to_reply.depth) == (0, 1, 2)
    assert root.body_html == "<p>Je soutiens <strong>fort</strong>.</p>\n"
    with pytest.raises(service.CannotComment) as refused:
        comment(session, proposal, parent=reply_to_reply)
    assert refused.value.status_code == 409
    assert refused.value.message == "On ne peut pas répondre plus loin dans cette discussion."
    assert comments_count(session, proposal) == 3
    assert len(session.exec(select(Comment).where(Comment.proposal_id == proposal.id)).all()) == 3


def test_a_reply_must_hang_on_a_comment_of_the_same_proposal(session: Session) -> None:
    consultation = make_consultation(session)
    proposal = make_proposal(session, consultation, make_user(session))
    elsewhere = comment(session, make_proposal(session, consultation, make_user(session)))
    with pytest.raises(service.CommentNotFound):
        comment(session, proposal, parent=elsewhere)
    with pytest.raises(service.CommentNotFound):
        service.add_comment(session, resident(session), proposal, CommentDraft(body="Où ?", parent_id=10**9), now=NOW)
    assert comments_count(session, proposal) == 0


@pytest.mark.parametrize("state", ["withdrawn", "hidden", "pending"])
def test_no_comments_on_proposals_not_shown(session: Session, state: str) -> None:
    proposal = make_proposal(session, make_consultation(session), make_user(session), state=state)
    with pytest.raises(service.CannotComment):
        comment(session, proposal)


def test_comments_need_a_declared_commune(session: Session) -> None:
    proposal = make_proposal(session, make_consultation(session), make_user(session))
    with pytest.raises(service.CannotComment) as refused:
        comment(session, proposal, resident(session, commune=None))
    assert refused.value.message == "Indiquez d’abord votre commune de résidence, depuis votre compte."


def test_comments_in_any_phase_and_from_anywhere(session: Session) -> None:
    consultation = make_consultation(session, phase="results", scope_kind="commune", scope_code="62498")
    proposal = make_proposal(session, consultation, make_user(session))
    assert comment(session, proposal, resident(session, commune="59002")).id is not None


def test_only_the_author_edits_or_deletes_a_comment(session: Session) -> None:
    proposal = make_proposal(session, make_consultation(session), make_user(session))
    author = resident(session)
    mine = comment(session, proposal, author)
    other = resident(session)
    with pytest.raises(service.NotTheAuthor) as refused:
        service.edit_comment(session, other, mine, CommentPatch(body="Réécrit"), now=NOW)
    assert refused.value.status_code == 403
    with pytest.raises(service.NotTheAuthor):
        service.delete_comment(session, other, mine, now=NOW)
    service.edit_comment(session, author, mine, CommentPatch(body="Bonne idée, *vraiment*."), now=NOW + DAY)
    assert mine.body_html == "<p>Bonne idée, <em>vraiment</em>.</p>\n"
    assert mine.updated_at == NOW + DAY


def test_a_deleted_comment_leaves_its_place_and_its_replies(session: Session) -> None:
    proposal = make_proposal(session, make_consultation(session), make_user(session))
    author = resident(session)
    root = comment(session, proposal, author, body="Un avis que je retire.")
    reply = comment(session, proposal, parent=root)
    comment(session, proposal, parent=reply)
    assert comments_count(session, proposal) == 3
    service.delete_comment(session, author, root, now=NOW + DAY)
    assert (root.state, root.body, root.body_html, root.updated_at) == ("deleted", "", "", NOW + DAY)
    assert comments_count(session, proposal) == 2
    service.delete_comment(session, author, root, now=NOW + 2 * DAY)  # again: nothing changes
    assert comments_count(session, proposal) == 2
    with pytest.raises(service.CannotComment):
        service.edit_comment(session, author, root, CommentPatch(body="Je reviens"), now=NOW)
    (tree_root,) = service.comment_tree(session, proposal)
    assert tree_root.comment.id == root.id
    assert tree_root.author_name is None
    (tree_reply,) = tree_root.replies
    assert tree_reply.comment.id == reply.id
    assert tree_reply.author_name is not None
    assert len(tree_reply.replies) == 1
    # A reply may still hang on the deleted comment's replies, not beyond depth 2.
    comment(session, proposal, parent=reply)
    assert comments_count(session, proposal) == 3


def test_the_tree_is_in_order(session: Session) -> None:
    proposal = make_proposal(session, make_consultation(session), make_user(session))
    first = comment(session, proposal, body="Premier")
    second = comment(session, proposal, body="Second")
    first_reply = comment(session, proposal, parent=first, body="Réponse au premier")
    tree = service.comment_tree(session, proposal)
    assert [node.comment.id for node in tree] == [first.id, second.id]
    assert [node.comment.id for node in tree[0].replies] == [first_reply.id]
    assert tree[1].replies == []


def test_a_comment_of_a_hidden_proposal_is_not_found(session: Session) -> None:
    proposal = make_proposal(session, make_consultation(session), make_user(session))
    posted = comment(session, proposal)
    proposal.state = "hidden"
    session.flush()
    with pytest.raises(service.ProposalNotFound):
        service.get_comment(session, posted.id or 0, principal=None)
    with pytest.raises(service.CommentNotFound):
        service.get_comment(session, 10**9)


def test_counters_never_go_below_zero_in_the_database(session: Session) -> None:
    from sqlalchemy.exc import IntegrityError

    proposal = make_proposal(session, make_consultation(session), make_user(session))
    proposal.comments_count = -1
    with pytest.raises(IntegrityError), session.begin_nested():
        session.flush()


def test_the_export_of_a_person_holds_their_proposals_and_comments(session: Session) -> None:
    author = make_user(session)
    proposal = make_proposal(session, make_consultation(session), author, title="Ma proposition à moi")
    comment(session, proposal, accounts.load_principal(session, author), body="Mon commentaire")
    data = accounts.export_data(session, DatabaseSessionStore(lambda **_options: nullcontext(session)), author,
                                now=NOW)
    assert [p["title"] for p in data["proposals"]] == ["Ma proposition à moi"]
    assert [c["body"] for c in data["comments"]] == ["Mon commentaire"]
