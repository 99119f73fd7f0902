"""The ballot page of majority-judgment and budget consultations (/consultations/{slug}/vote):
plain forms without JavaScript (cast, replace, withdraw; a refused ballot comes back as sent with
the service's reason), the budget's running total for htmx and its "Calculer le total" fallback,
and the way in from the consultation page."""

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import User
from app.consultations.models import Consultation
from app.proposals.models import Proposal
from app.voting import ballots
from app.voting.methods.majority_judgment import GRADES
from app.voting.models import Ballot
from tests.factories import NOW, make_consultation, make_proposal, make_user
from tests.participation import HTMX, csrf, post, sign_in
from tests.support import assert_fragment, assert_page

LENS_LIEVIN = "246200364"
DOUAI = "59178"
E, TB, B, AB, P, INS, R = GRADES
GRADE_LABELS = ["Excellent", "Très bien", "Bien", "Assez bien", "Passable", "Insuffisant", "À rejeter"]
NNBSP = "\u202f"  # French thousands separator


@pytest.fixture(autouse=True)
def _frozen_clock(app: FastAPI) -> None:
    app.state.clock = lambda: NOW


@pytest.fixture
def voter(client: TestClient, app: FastAPI, session: Session) -> User:
    user = make_user(session, name="Nadia Bensaïd")
    session.commit()
    sign_in(client, app, user)
    return user


def consultation_with(session: Session, method: str, costs: list[int | None], *, phase: str = "voting",
                      **fields: object) -> tuple[Consultation, list[Proposal]]:
    consultation = make_consultation(session, phase=phase, voting_method=method, scope_kind="epci",
                                     scope_code=LENS_LIEVIN, **fields)
    author = make_user(session, name="Sabrina Lefebvre")
    made = [make_proposal(session, consultation, author, title=f"Projet {name} pour le quartier",
                          estimated_cost=cost)
            for name, cost in zip(["jardin", "fresque", "bancs"], costs, strict=False)]
    session.commit()
    return consultation, made


@pytest.fixture
def majority(session: Session) -> tuple[Consultation, list[Proposal]]:
    return consultation_with(session, "majority_judgment", [None, None, None])


@pytest.fixture
def budget(session: Session) -> tuple[Consultation, list[Proposal]]:
    return consultation_with(session, "budget", [4000, 5000, 7000], budget_total=10000)


def stored(session: Session, user: User, consultation: Consultation) -> ballots.BallotView | None:
    return ballots.get_ballot(session, accounts.load_principal(session, user), consultation)


def checked_grades(page: str) -> dict[int, str]:
    """The radio buttons ticked on the page: {proposal id: grade}."""
    return {int(pid): grade for pid, grade in re.findall(
        r'<input type="radio" id="[^"]+" name="grade-(\d+)" value="(\w+)" checked>', page)}


def checked_boxes(page: str) -> set[int]:
    return {int(pid) for pid in re.findall(r'name="proposal" value="(\d+)" checked', page)}


def send(client: TestClient, path: str, data: dict[str, str | list[str]], *, htmx: bool = False) -> Response:
    """A form with repeated fields (the ticked projects), as the page or htmx sends it."""
    if htmx:
        return client.post(path, data=data, headers={**HTMX, "X-CSRF-Token": csrf(client)}, follow_redirects=False)
    return client.post(path, data={**data, "csrf_token": csrf(client)}, follow_redirects=False)


def url(consultation: Consultation, tail: str = "vote") -> str:
    return f"/consultations/{consultation.slug}/{tail}"


# --- majority judgment


def test_majority_judgment_ballot_page(client: TestClient, voter: User,
                                       majority: tuple[Consultation, list[Proposal]]) -> None:
    consultation, proposals = majority
    page = assert_page(client.get(url(consultation)))
    assert "<title>Voter — " in page
    for proposal in proposals:
        group = f"proposal-{proposal.id}-grades"
        fieldset = re.search(rf'<fieldset class="cr-grades" id="{group}">(.*?)</fieldset>', page, re.S)
        assert fieldset, f"no fieldset for {proposal.title}"
        assert re.search(rf'<legend[^>]*><a href="/propositions/{proposal.id}">{proposal.title}</a></legend>',
                         fieldset.group(1))
        radios = re.findall(rf'<input type="radio" id="({group}-\w+)" name="grade-{proposal.id}" value="(\w+)">',
                            fieldset.group(1))
        assert [value for _id, value in radios] == list(GRADES)
        labels = [re.search(rf'<label for="{radio_id}">([^<]+)</label>', fieldset.group(1)).group(1)  # type: ignore[union-attr]
                  for radio_id, _value in radios]
        assert labels == GRADE_LABELS
    assert checked_grades(page) == {}
    assert "Enregistrer mon vote" in page
    assert "Retirer mon bulletin" not in page  # nothing to withdraw yet
    assert 'name="csrf_token"' in page


def test_cast_replace_and_withdraw_without_javascript(client: TestClient, session: Session, voter: User,
                                                      majority: tuple[Consultation, list[Proposal]]) -> None:
    consultation, (a, b, c) = majority
    response = post(client, url(consultation), {f"grade-{a.id}": E, f"grade-{b.id}": P, f"grade-{c.id}": R,
                                                "action": "cast"})
    assert response.status_code == 303
    assert response.headers["location"] == url(consultation)
    page = assert_page(client.get(response.headers["location"]))
    assert "Merci ! Votre vote est enregistré." in page
    assert "Vous avez voté" in page
    assert checked_grades(page) == {a.id: E, b.id: P, c.id: R}  # the stored ballot, filled in
    assert "Modifier mon vote" in page
    view = stored(session, voter, consultation)
    assert view is not None
    assert view.grades == {a.id: E, b.id: P, c.id: R}

    replaced = post(client, url(consultation), {f"grade-{a.id}": INS, f"grade-{b.id}": TB, f"grade-{c.id}": B})
    assert replaced.status_code == 303
    page = assert_page(client.get(url(consultation)))
    assert "Votre vote est modifié." in page
    assert checked_grades(page) == {a.id: INS, b.id: TB, c.id: B}
    view = stored(session, voter, consultation)
    assert view is not None
    assert view.grades == {a.id: INS, b.id: TB, c.id: B}
    assert len(session.exec(select(Ballot).where(Ballot.consultation_id == consultation.id)).all()) == 1

    withdrawn = post(client, url(consultation, "vote/retirer"), {})
    assert withdrawn.status_code == 303
    page = assert_page(client.get(url(consultation)))
    assert "Votre bulletin est retiré : il ne compte plus." in page
    assert checked_grades(page) == {}
    assert "Retirer mon bulletin" not in page
    assert stored(session, voter, consultation) is None
    again = post(client, url(consultation, "vote/retirer"), {})  # a second click, or another tab
    assert again.status_code == 303
    assert "Vous n’avez pas voté dans cette consultation." in assert_page(client.get(url(consultation)))


def test_a_missing_grade_comes_back_with_the_other_grades(client: TestClient, session: Session, voter: User,
                                                          majority: tuple[Consultation, list[Proposal]]) -> None:
    consultation, (a, b, c) = majority
    page = assert_page(post(client, url(consultation), {f"grade-{a.id}": TB, f"grade-{c.id}": AB}), 422)
    assert "<title>Erreur — Voter — " in page
    summary = re.search(r'<div class="cr-alert cr-alert--error" role="alert" tabindex="-1" id="error-summary">(.*?)'
                        r"</div>", page, re.S)
    assert summary
    assert "Donnez une mention à chaque proposition : il en manque 1." in summary.group(1)
    assert f'<a href="#proposal-{b.id}-grades">« {b.title} » : choisissez une mention.</a>' in summary.group(1)
    assert f"#proposal-{a.id}-grades" not in summary.group(1)
    assert (f'<fieldset class="cr-grades cr-grades--error" id="proposal-{b.id}-grades" '
            f'aria-describedby="proposal-{b.id}-grades-error">') in page
    assert f'id="proposal-{b.id}-grades-error">Choisissez une mention pour cette proposition.' in page
    assert checked_grades(page) == {a.id: TB, c.id: AB}  # what was given stays
    assert stored(session, voter, consultation) is None


def test_a_refused_replacement_keeps_the_stored_ballot(client: TestClient, session: Session, voter: User,
                                                       majority: tuple[Consultation, list[Proposal]]) -> None:
    consultation, (a, b, c) = majority
    assert post(client, url(consultation), {f"grade-{a.id}": E, f"grade-{b.id}": E, f"grade-{c.id}": E}
                ).status_code == 303
    page = assert_page(post(client, url(consultation), {f"grade-{a.id}": R, f"grade-{b.id}": "genial"}), 422)
    assert "il en manque 1" in page
    assert checked_grades(page) == {a.id: R}  # as sent (an unknown grade ticks nothing)
    view = stored(session, voter, consultation)
    assert view is not None
    assert view.grades == {a.id: E, b.id: E, c.id: E}


def test_a_proposal_hidden_while_the_form_was_filled_is_left_out(
    client: TestClient, session: Session, voter: User, majority: tuple[Consultation, list[Proposal]]
) -> None:
    consultation, (a, b, c) = majority
    assert_page(client.get(url(consultation)))
    c.state = "hidden"  # by moderation, meanwhile
    session.add(c)
    session.commit()
    response = post(client, url(consultation), {f"grade-{a.id}": B, f"grade-{b.id}": P, f"grade-{c.id}": E})
    assert response.status_code == 303
    view = stored(session, voter, consultation)
    assert view is not None
    assert view.grades == {a.id: B, b.id: P}


def test_refusals_say_why_with_their_status(client: TestClient, app: FastAPI, session: Session,
                                            majority: tuple[Consultation, list[Proposal]]) -> None:
    consultation, (a, b, c) = majority
    grades = {f"grade-{a.id}": E, f"grade-{b.id}": E, f"grade-{c.id}": E}
    outsider = make_user(session, commune=DOUAI)
    session.commit()
    sign_in(client, app, outsider)
    reason = "Cette consultation est réservée aux habitants de la Communauté d’agglomération de Lens - Liévin."
    page = assert_page(client.get(url(consultation)), 403)
    assert reason in page
    assert 'name="grade-' not in page
    assert reason in assert_page(post(client, url(consultation), grades), 403)
    assert stored(session, outsider, consultation) is None

    resident = make_user(session)
    over, [d] = consultation_with(session, "majority_judgment", [None], phase="results")
    sign_in(client, app, resident)
    closed = "Le vote n’est pas ouvert en ce moment"
    assert closed in assert_page(client.get(url(over)), 409)
    assert closed in assert_page(post(client, url(over), {f"grade-{d.id}": E}), 409)
    assert closed in assert_page(post(client, url(over, "vote/retirer"), {}), 409)
    assert stored(session, resident, over) is None

    supports = make_consultation(session, phase="voting")
    session.commit()
    assert "Cette consultation ne se vote pas par bulletin." in assert_page(client.get(url(supports)), 409)


def test_voting_needs_a_signed_in_person(client: TestClient, majority: tuple[Consultation, list[Proposal]]) -> None:
    consultation, _proposals = majority
    response = client.get(url(consultation), follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/connexion?next=%2Fconsultations%2F{consultation.slug}%2Fvote"


def test_the_consultation_page_leads_to_the_ballot(client: TestClient, app: FastAPI, session: Session,
                                                   voter: User, majority: tuple[Consultation, list[Proposal]]) -> None:
    consultation, _proposals = majority
    page = assert_page(client.get(f"/consultations/{consultation.slug}"))
    assert f'<a class="cr-button" href="/consultations/{consultation.slug}/vote">Voter</a>' in page
    assert f'href="/consultations/{consultation.slug}/resultats">Voir les résultats provisoires</a>' in page
    over, _over_proposals = consultation_with(session, "majority_judgment", [None], phase="results")
    page = assert_page(client.get(f"/consultations/{over.slug}"))
    assert f"/consultations/{over.slug}/vote" not in page
    assert f'href="/consultations/{over.slug}/resultats">Voir les résultats</a>' in page
    hidden = make_consultation(session, phase="voting", voting_method="budget", budget_total=1000,
                               results_hidden_until_end=True)
    session.commit()
    page = assert_page(client.get(f"/consultations/{hidden.slug}"))
    assert f"/consultations/{hidden.slug}/vote" in page
    assert f"/consultations/{hidden.slug}/resultats" not in page


# --- participatory budget


def test_budget_ballot_page(client: TestClient, voter: User, budget: tuple[Consultation, list[Proposal]]) -> None:
    consultation, proposals = budget
    page = assert_page(client.get(url(consultation)))
    for proposal in proposals:
        assert (f'<input type="checkbox" id="proposal-{proposal.id}-choice" name="proposal" '
                f'value="{proposal.id}">') in page
        assert f'<label for="proposal-{proposal.id}-choice">' in page
    assert f"4{NNBSP}000 €" in page
    assert f"7{NNBSP}000 €" in page
    meter = re.search(r'<div id="budget-meter" class="cr-budget-meter" role="status" aria-live="polite">', page)
    assert meter
    assert f"Votre sélection : 0 € sur 10{NNBSP}000 €." in page
    assert f"Il reste 10{NNBSP}000 €." in page
    assert f'hx-post="/consultations/{consultation.slug}/vote/total" hx-trigger="change"' in page
    assert 'hx-target="#budget-meter"' in page
    assert '<button class="cr-button cr-button--secondary" type="submit" name="action" value="total">' \
           "Calculer le total</button>" in page  # inside <noscript>


def test_the_total_without_javascript_keeps_the_selection(client: TestClient, session: Session, voter: User,
                                                          budget: tuple[Consultation, list[Proposal]]) -> None:
    consultation, (garden, _mural, benches) = budget
    page = assert_page(post(client, url(consultation), {"proposal": str(garden.id), "action": "total"}))
    assert f"Votre sélection : 4{NNBSP}000 € sur 10{NNBSP}000 €." in page
    assert f"Il reste 6{NNBSP}000 €." in page
    assert checked_boxes(page) == {garden.id}
    assert stored(session, voter, consultation) is None  # computing is not voting
    page = assert_page(send(client, url(consultation), {"proposal": [str(garden.id), str(benches.id)],
                                                        "action": "total"}))
    over = (f"Votre sélection coûte 11{NNBSP}000 €, plus que le budget de 10{NNBSP}000 € : "
            "retirez une proposition.")
    assert over in page
    assert 'class="cr-budget-meter cr-budget-meter--over"' in page
    assert checked_boxes(page) == {garden.id, benches.id}


def test_a_ballot_over_the_budget_is_refused_with_the_selection_kept(
    client: TestClient, session: Session, voter: User, budget: tuple[Consultation, list[Proposal]]
) -> None:
    consultation, (_garden, mural, benches) = budget
    page = assert_page(send(client, url(consultation), {"proposal": [str(mural.id), str(benches.id)],
                                                        "action": "cast"}), 422)
    over = (f"Votre sélection coûte 12{NNBSP}000 €, plus que le budget de 10{NNBSP}000 € : "
            "retirez une proposition.")
    assert "<title>Erreur — Voter — " in page
    summary = re.search(r'id="error-summary">(.*?)</div>', page, re.S)
    assert summary
    assert over in summary.group(1)
    assert '<a href="#budget-choices">Revoir votre sélection</a>' in summary.group(1)
    assert checked_boxes(page) == {mural.id, benches.id}
    assert stored(session, voter, consultation) is None
    nothing = assert_page(post(client, url(consultation), {"action": "cast"}), 422)
    assert "Choisissez au moins une proposition." in nothing


def test_a_budget_ballot_is_cast_and_replaced(client: TestClient, session: Session, voter: User,
                                              budget: tuple[Consultation, list[Proposal]]) -> None:
    consultation, (garden, mural, benches) = budget
    response = send(client, url(consultation), {"proposal": [str(garden.id), str(mural.id)]})
    assert response.status_code == 303
    page = assert_page(client.get(url(consultation)))
    assert "Merci ! Votre vote est enregistré." in page
    assert checked_boxes(page) == {garden.id, mural.id}
    assert f"Votre sélection : 9{NNBSP}000 € sur 10{NNBSP}000 €." in page
    view = stored(session, voter, consultation)
    assert view is not None
    assert (view.proposals, view.total_cost) == (sorted([garden.id, mural.id]), 9000)
    assert post(client, url(consultation), {"proposal": str(benches.id)}).status_code == 303
    assert "Votre vote est modifié." in assert_page(client.get(url(consultation)))
    view = stored(session, voter, consultation)
    assert view is not None
    assert view.proposals == [benches.id]


def test_the_running_total_for_htmx(client: TestClient, voter: User,
                                    budget: tuple[Consultation, list[Proposal]]) -> None:
    consultation, (_garden, mural, benches) = budget
    fragment = assert_fragment(post(client, url(consultation, "vote/total"), {"proposal": str(mural.id)}, htmx=True))
    assert fragment.lstrip().startswith('<div id="budget-meter" class="cr-budget-meter" role="status"')
    assert f"Votre sélection : 5{NNBSP}000 € sur 10{NNBSP}000 €." in fragment
    assert f"Il reste 5{NNBSP}000 €." in fragment
    assert 'width="500.0"' in fragment  # half the bar
    over = assert_fragment(send(client, url(consultation, "vote/total"),
                                {"proposal": [str(mural.id), str(benches.id)]}, htmx=True))
    assert (f"Votre sélection coûte 12{NNBSP}000 €, plus que le budget de 10{NNBSP}000 € : "
            "retirez une proposition.") in over
    assert "cr-budget-meter--over" in over
    assert "Il reste" not in over
    nothing = assert_fragment(post(client, url(consultation, "vote/total"), {}, htmx=True))
    assert f"Votre sélection : 0 € sur 10{NNBSP}000 €." in nothing
