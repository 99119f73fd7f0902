"""Pages: the answer form (/gestion/propositions/{id}/reponse), the merge form (…/fusion), the action
forms (/gestion/actions/…), and the public pages /actions and /actions/{id}; without JavaScript,
POST then redirect, a refused form back with what was typed and each error beside its field."""

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import Role, User
from app.actions import service
from app.actions.models import PublicAction
from app.actions.schemas import ActionDraft
from app.consultations.models import Consultation
from app.proposals.models import Proposal
from app.voting import service as voting
from app.voting.ballots import cast_ballot
from tests.actions.helpers import axis_id, principal, staff
from tests.factories import NOW, make_consultation, make_proposal, make_user
from tests.participation import post, sign_in

ANSWER = "Retenue : la ville installera trois bancs au printemps."


@pytest.fixture(autouse=True)
def _clock(app: FastAPI) -> None:
    app.state.clock = lambda: NOW


@pytest.fixture
def consultation(session: Session) -> Consultation:
    return make_consultation(session, axis_number=1)


@pytest.fixture
def proposal(session: Session, consultation: Consultation) -> Proposal:
    return make_proposal(session, consultation, make_user(session), title="Des bancs place de la mairie",
                         estimated_cost=3000)


def moderator_of(session: Session, axis: int = 1) -> User:
    user = make_user(session, name="Morgane Modératrice")
    accounts.grant_role(session, user, Role.moderator, now=NOW, axis_id=axis_id(session, axis))
    return user


def test_the_answer_form_accepts_and_creates_the_action(client: TestClient, app: FastAPI, session: Session,
                                                         proposal: Proposal) -> None:
    sign_in(client, app, moderator_of(session))
    page = client.get(f"/propositions/{proposal.id}")
    assert f'href="/gestion/propositions/{proposal.id}/reponse"' in page.text
    form = client.get(f"/gestion/propositions/{proposal.id}/reponse")
    assert form.status_code == 200
    assert 'value="Des bancs place de la mairie"' in form.text
    assert 'value="3000"' in form.text
    response = post(client, f"/gestion/propositions/{proposal.id}/reponse", {
        "state": "accepted", "answer": ANSWER, "title": "", "owner": "Ville de Liévin", "budget": "4 500 €",
        "planned_start": "2027-04-01", "planned_end": "2027-06-30"})
    assert response.status_code == 303, response.text
    item = session.exec(select(PublicAction).where(PublicAction.consultation_id == proposal.consultation_id)).one()
    assert response.headers["location"] == f"/actions/{item.id}"
    assert (item.title, item.owner, item.budget) == ("Des bancs place de la mairie", "Ville de Liévin", 4500)
    public = client.get(f"/actions/{item.id}")
    assert "l’action « Des bancs place de la mairie » est créée" in public.text
    assert f'href="/propositions/{proposal.id}"' in public.text
    assert '<progress class="cr-progress__bar" id="action-progress" max="100" value="0">' in public.text
    assert "1 avril 2027" in public.text
    shown = client.get(f"/propositions/{proposal.id}").text
    assert "La réponse officielle" in shown
    assert "trois bancs au printemps" in shown
    assert f'href="/actions/{item.id}"' in shown


def test_a_refused_answer_keeps_what_was_typed(client: TestClient, app: FastAPI, session: Session,
                                               proposal: Proposal) -> None:
    sign_in(client, app, moderator_of(session))
    response = post(client, f"/gestion/propositions/{proposal.id}/reponse", {
        "state": "accepted", "answer": "Court", "owner": "Ville de <Liévin>", "budget": "beaucoup",
        "planned_start": "2027-06-01", "planned_end": "2027-04-01"})
    assert response.status_code == 422
    text = response.text
    assert "Le formulaire contient 3 erreurs" in text
    assert "La réponse doit compter entre 10 et 10 000 caractères." in text
    assert "Indiquez le budget en euros, en chiffres" in text
    assert 'value="Ville de &lt;Liévin&gt;"' in text
    assert ">Court</textarea>" in text
    assert re.search(r'id="state-accepted" value="accepted"\s+checked', text)
    missing = post(client, f"/gestion/propositions/{proposal.id}/reponse", {"answer": ANSWER})
    assert missing.status_code == 422
    assert "Choisissez la réponse" in missing.text
    session.refresh(proposal)
    assert proposal.state == "published"


def test_rejecting_goes_back_to_the_proposal(client: TestClient, app: FastAPI, session: Session,
                                             proposal: Proposal) -> None:
    sign_in(client, app, moderator_of(session))
    response = post(client, f"/gestion/propositions/{proposal.id}/reponse", {"state": "rejected", "answer": ANSWER,
                                                                              "owner": "ignored"})
    assert (response.status_code, response.headers["location"]) == (303, f"/propositions/{proposal.id}")
    assert session.exec(select(PublicAction).where(PublicAction.consultation_id == proposal.consultation_id)
                        ).all() == []


@pytest.mark.parametrize("who", ["moderator of axis 2", "resident", "evaluator"])
def test_the_back_office_pages_refuse_others(client: TestClient, app: FastAPI, session: Session,
                                             proposal: Proposal, consultation: Consultation, who: str) -> None:
    if who == "moderator of axis 2":
        user = moderator_of(session, 2)
    else:
        user = make_user(session)
        if who == "evaluator":
            accounts.grant_role(session, user, Role.evaluator, now=NOW)
    item = service.create_action(session, staff(session, axis=1), consultation,
                                 ActionDraft(title="Une action de l’axe 1", owner="Ville"), [], now=NOW)
    sign_in(client, app, user)
    assert "/gestion/propositions/" not in client.get(f"/propositions/{proposal.id}").text
    assert "/gestion/actions/" not in client.get(f"/actions/{item.id}").text
    for url in (f"/gestion/propositions/{proposal.id}/reponse", f"/gestion/propositions/{proposal.id}/fusion",
                f"/gestion/actions/{item.id}/modifier", f"/gestion/actions/{item.id}/avancement",
                f"/gestion/actions/nouvelle?consultation={consultation.id}"):
        assert client.get(url).status_code == 403, url
    assert post(client, f"/gestion/propositions/{proposal.id}/reponse",
                {"state": "rejected", "answer": ANSWER}).status_code == 403
    assert post(client, f"/gestion/actions/{item.id}/avancement", {
        "occurred_on": "2027-02-01", "body": "Une étape franchie.", "status": "done", "progress": "100"}
    ).status_code == 403
    session.refresh(proposal)
    assert proposal.state == "published"


def test_visitors_are_sent_to_sign_in(client: TestClient, proposal: Proposal) -> None:
    response = client.get(f"/gestion/propositions/{proposal.id}/reponse", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/connexion?next=")


def test_the_merge_form(client: TestClient, app: FastAPI, session: Session, consultation: Consultation,
                        proposal: Proposal) -> None:
    author = make_user(session)
    twin = make_proposal(session, consultation, author, title="Installer des bancs devant la mairie")
    other = make_proposal(session, consultation, author, title="Un autre sujet sans rapport")
    voter = principal(session, make_user(session))
    for target in (proposal, twin):
        voting.add_support(session, voter, target, now=NOW)
    sign_in(client, app, moderator_of(session))
    form = client.get(f"/gestion/propositions/{proposal.id}/fusion")
    assert form.status_code == 200
    assert f'value="{twin.id}"' in form.text
    assert f'value="{other.id}"' in form.text
    assert f'value="{proposal.id}"' not in form.text
    empty = post(client, f"/gestion/propositions/{proposal.id}/fusion", {})
    assert empty.status_code == 422
    assert "Choisissez au moins une proposition à fusionner." in empty.text
    response = post(client, f"/gestion/propositions/{proposal.id}/fusion", {"sources": str(twin.id)})
    assert (response.status_code, response.headers["location"]) == (303, f"/propositions/{proposal.id}")
    page = client.get(f"/propositions/{proposal.id}").text
    assert "1 proposition(s) fusionnée(s)" in page
    session.refresh(twin)
    session.refresh(proposal)
    assert (twin.state, twin.merged_into_id, proposal.supports_count) == ("merged", proposal.id, 1)
    merged_page = client.get(f"/propositions/{twin.id}").text
    assert "Proposition fusionnée" in merged_page
    assert f'href="/propositions/{proposal.id}"' in merged_page
    again = client.get(f"/gestion/propositions/{proposal.id}/fusion").text
    assert f'value="{twin.id}"' not in again
    assert "Déjà fusionnées dans celle-ci" in again


def test_merge_refused_after_ballots_explains_why(client: TestClient, app: FastAPI, session: Session) -> None:
    consultation = make_consultation(session, axis_number=1, voting_method="majority_judgment")
    author = make_user(session)
    first, second = (make_proposal(session, consultation, author) for _ in range(2))
    cast_ballot(session, principal(session, make_user(session)), consultation,
                grades={first.id or 0: "bien", second.id or 0: "passable"}, now=NOW)
    sign_in(client, app, moderator_of(session))
    response = post(client, f"/gestion/propositions/{first.id}/fusion", {"sources": str(second.id)})
    assert response.status_code == 409
    assert "Des bulletins ont déjà été déposés" in response.text
    assert f'value="{second.id}"\n' in response.text or f'value="{second.id}" checked' in response.text


def test_actions_forms_and_pages(client: TestClient, app: FastAPI, session: Session,
                                 consultation: Consultation) -> None:
    accepted = make_proposal(session, consultation, make_user(session), state="accepted", title="Une idée retenue ici")
    sign_in(client, app, moderator_of(session))
    form = client.get(f"/gestion/actions/nouvelle?consultation={consultation.id}")
    assert form.status_code == 200
    assert "Une idée retenue ici" in form.text
    refused = post(client, "/gestion/actions/nouvelle", {"consultation": str(consultation.id), "title": "Non",
                                                         "owner": "Ville"})
    assert refused.status_code == 422
    assert "Le titre de l’action doit compter" in refused.text
    created = post(client, "/gestion/actions/nouvelle", {
        "consultation": str(consultation.id), "title": "Réaliser l’idée retenue", "owner": "Ville de Lens",
        "description": "Avec **les habitants**.", "budget": "", "planned_start": "", "planned_end": "",
        "proposals": str(accepted.id)})
    assert created.status_code == 303, created.text
    action_id = int(created.headers["location"].rsplit("/", 1)[1])
    edited = post(client, f"/gestion/actions/{action_id}/modifier", {
        "title": "Réaliser l’idée retenue vite", "owner": "Ville de Lens", "description": "", "budget": "900"})
    assert edited.status_code == 303
    bad_update = post(client, f"/gestion/actions/{action_id}/avancement", {
        "occurred_on": "2027-03-05", "body": "Demain.", "status": "finished", "progress": "120"})
    assert bad_update.status_code == 422
    for message in ("Indiquez une date valide, au plus tard aujourd’hui.", "Le texte doit compter entre 10",
                    "Choisissez l’état de l’action.", "Indiquez l’avancement en pour cent"):
        assert message in bad_update.text
    update = post(client, f"/gestion/actions/{action_id}/avancement", {
        "occurred_on": "2027-02-20", "body": "Le **chantier** a commencé.", "status": "in_progress",
        "progress": "35"})
    assert (update.status_code, update.headers["location"]) == (303, f"/actions/{action_id}#etapes")
    page = client.get(f"/actions/{action_id}").text
    assert "Réaliser l’idée retenue vite" in page
    assert "<strong>chantier</strong>" in page
    assert 'value="35"' in page
    assert "20 février 2027" in page
    assert "900 €" in page
    listing = client.get("/actions", params={"axe": "1", "etat": "in_progress"}).text
    assert f'href="/actions/{action_id}"' in listing
    assert f'href="/actions/{action_id}"' not in client.get("/actions", params={"etat": "done"}).text
    assert f'href="/actions/{action_id}"' not in client.get("/actions", params={"axe": "2"}).text
    fragment = client.get("/actions", params={"axe": "1"}, headers={"HX-Request": "true"}).text
    assert "<html" not in fragment
    assert f'href="/actions/{action_id}"' in fragment
