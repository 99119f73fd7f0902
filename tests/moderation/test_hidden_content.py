"""Hidden content never leaks to the public: not on the consultation page (its list, its search,
its filters), the proposal page, the comment thread, the ballot, the results page, the public API
(lists, details, search, comments, results), nor the evaluators' exports. Its author still sees it
with the reason, and the consultation's moderators see it marked "masqué"."""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import Role, User
from app.consultations.models import Consultation
from app.moderation import service
from app.proposals import service as proposals
from app.proposals.models import Comment, Proposal
from app.proposals.schemas import CommentDraft
from app.territory.models import Axis
from tests.factories import NOW, bearer, make_consultation, make_proposal, make_user
from tests.participation import sign_in
from tests.support import assert_page

SECRET_TITLE = "Zorglubienne proposition"
SECRET_BODY = "Le texte masqué parle de Pantagruelisme."
SECRET_COMMENT = "Un commentaire Gargantuesque et injurieux."
REASON = "Propos injurieux envers un voisin."


@pytest.fixture(autouse=True)
def _clock(app: FastAPI) -> None:
    app.state.clock = lambda: NOW


class World:
    consultation: Consultation
    hidden: Proposal
    visible: Proposal
    comment: Comment
    author: User
    commenter: User
    moderator: User


def build(session: Session, *, phase: str = "voting", method: str = "support") -> World:
    world = World()
    world.consultation = make_consultation(session, phase=phase, voting_method=method)
    world.author = make_user(session, name="Auteur Masqué")
    world.commenter = make_user(session, name="Commentateur Masqué")
    world.hidden = make_proposal(session, world.consultation, world.author, title=SECRET_TITLE, body=SECRET_BODY,
                                 estimated_cost=100)
    world.visible = make_proposal(session, world.consultation, make_user(session), title="Une proposition visible",
                                  estimated_cost=100)
    world.comment = proposals.add_comment(session, accounts.load_principal(session, world.commenter), world.visible,
                                          CommentDraft(body=SECRET_COMMENT), now=NOW)
    world.moderator = make_user(session)
    axis = session.exec(select(Axis).where(Axis.number == 1)).one()
    accounts.grant_role(session, world.moderator, Role.moderator, now=NOW, axis_id=axis.id)
    moderator = accounts.load_principal(session, world.moderator)
    service.hide(session, moderator, "proposal", world.hidden.id or 0, reason=REASON, now=NOW)
    service.hide(session, moderator, "comment", world.comment.id or 0, reason=REASON, now=NOW)
    session.commit()
    return world


def assert_nothing_hidden(text: str) -> None:
    for secret in ("Zorglub", "Pantagruel", "Gargantu", REASON, "Auteur Masqué"):
        assert secret not in text, secret


def public_pages(world: World) -> list[str]:
    slug, visible = world.consultation.slug, world.visible.id
    return [f"/consultations/{slug}", f"/consultations/{slug}?q=zorglubienne",
            f"/consultations/{slug}?q=pantagruelisme",
            f"/consultations/{slug}?sort=recent", f"/consultations/{slug}?state=hidden",
            f"/propositions/{visible}", f"/consultations/{slug}/resultats"]


def public_api(world: World) -> list[str]:
    cid, visible = world.consultation.id, world.visible.id
    return [f"/api/v1/consultations/{cid}/proposals", f"/api/v1/consultations/{cid}/proposals?q=zorglubienne",
            f"/api/v1/consultations/{cid}/proposals?state=hidden&sort=recent",
            f"/api/v1/proposals/{visible}/comments", f"/api/v1/consultations/{cid}/results"]


def test_visitors_and_other_residents_never_see_hidden_content(session: Session, client: TestClient,
                                                               app: FastAPI) -> None:
    world = build(session)
    someone = make_user(session)
    session.commit()
    for who in (None, someone):
        if who is not None:
            sign_in(client, app, who)
        for url in public_pages(world):
            response = client.get(url)
            assert response.status_code == 200, url
            assert_nothing_hidden(response.text)
        assert "Commentaire masqué par la modération" not in client.get(f"/propositions/{world.visible.id}").text
        assert_page(client.get(f"/propositions/{world.hidden.id}"), 404)
        for url in public_api(world):
            response = client.get(url)
            assert response.status_code == 200, url
            assert_nothing_hidden(response.text)
        assert client.get(f"/api/v1/proposals/{world.hidden.id}").status_code == 404
        assert client.get(f"/api/v1/proposals/{world.hidden.id}/comments").status_code == 404
    headers = bearer(session, someone)
    session.commit()
    for url in public_api(world):
        assert_nothing_hidden(client.get(url, headers=headers).text)
    listing = client.get(f"/api/v1/consultations/{world.consultation.id}/proposals").json()
    ids = [item["id"] for item in listing["items"]]
    assert ids == [world.visible.id]


def test_the_ballot_and_final_results_leave_hidden_proposals_out(session: Session, client: TestClient,
                                                                  app: FastAPI) -> None:
    world = build(session, method="majority_judgment")
    voter = make_user(session)
    session.commit()
    sign_in(client, app, voter)
    assert_nothing_hidden(assert_page(client.get(f"/consultations/{world.consultation.slug}/vote")))
    after = make_consultation(session, phase="results")
    gone = make_proposal(session, after, make_user(session), title=SECRET_TITLE, body=SECRET_BODY)
    service.hide(session, accounts.load_principal(session, world.moderator), "proposal", gone.id or 0, reason=REASON,
                 now=NOW)
    session.commit()
    assert_nothing_hidden(assert_page(client.get(f"/consultations/{after.slug}/resultats")))
    assert_nothing_hidden(client.get(f"/api/v1/consultations/{after.id}/results").text)


def test_the_author_sees_their_hidden_proposal_and_comment_with_the_reason(session: Session, client: TestClient,
                                                                          app: FastAPI) -> None:
    world = build(session)
    sign_in(client, app, world.author)
    page = assert_page(client.get(f"/propositions/{world.hidden.id}"))
    assert SECRET_TITLE in page
    assert "Proposition masquée" in page
    assert REASON in page
    assert "Retirer ma proposition" not in page  # withdrawing would make it public again
    sign_in(client, app, world.commenter)
    thread = assert_page(client.get(f"/propositions/{world.visible.id}"))
    assert SECRET_COMMENT in thread
    assert "Masqué" in thread
    assert REASON in thread
    # On the consultation page (the public list), not even its author finds it.
    assert_nothing_hidden(client.get(f"/consultations/{world.consultation.slug}").text.replace(
        "Commentateur Masqué", ""))


def test_moderators_see_hidden_content_marked(session: Session, client: TestClient, app: FastAPI) -> None:
    world = build(session)
    sign_in(client, app, world.moderator)
    page = assert_page(client.get(f"/propositions/{world.hidden.id}"))
    assert SECRET_TITLE in page
    assert "Proposition masquée" in page
    thread = assert_page(client.get(f"/propositions/{world.visible.id}"))
    assert SECRET_COMMENT in thread
    assert "Ce commentaire est masqué par la modération" in thread
    # A moderator of another axis is the public here.
    other = make_user(session)
    axis = session.exec(select(Axis).where(Axis.number == 2)).one()
    accounts.grant_role(session, other, Role.moderator, now=NOW, axis_id=axis.id)
    session.commit()
    sign_in(client, app, other)
    assert_page(client.get(f"/propositions/{world.hidden.id}"), 404)
    assert SECRET_COMMENT not in client.get(f"/propositions/{world.visible.id}").text


def test_exports_leave_hidden_content_out_for_evaluators(session: Session, client: TestClient) -> None:
    world = build(session, phase="results")
    evaluator = make_user(session)
    accounts.grant_role(session, evaluator, Role.evaluator, now=NOW)
    headers = bearer(session, evaluator)
    session.commit()
    url = f"/api/v1/consultations/{world.consultation.id}/export"
    for fmt, what in (("json", "all"), ("csv", "proposals"), ("csv", "comments")):  # plain text, not a zip
        response = client.get(f"{url}?format={fmt}&what={what}", headers=headers)
        assert response.status_code == 200, response.text[:300]
        assert not response.headers["content-type"].startswith("application/zip")
        text = response.content.decode("utf-8")
        if what != "comments":
            assert "Une proposition visible" in text  # the export has its content, but for the hidden
        assert_nothing_hidden(text)
