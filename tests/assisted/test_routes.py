"""The counter's pages as a mediator uses them, without JavaScript: finding and registering a
resident, verifying their residence, recording a proposal, a support and a ballot for them,
printing a claim code; refusals for whoever is not a mediator of the resident's commune. Then the
public claim page: the resident takes the account, is signed in, confirms the address and signs
in again with the password; wrong codes get one message and a rate limit."""

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import Role, User
from app.audit.models import AuditEntry
from app.core.settings import Settings
from app.main import create_app
from app.proposals.models import Proposal
from app.territory.models import Axis
from app.voting.models import Ballot, SupportVote
from tests.conftest import SmtpServer
from tests.factories import NOW, make_consultation, make_proposal, make_user
from tests.participation import post, sign_in
from tests.support import PASSWORD, assert_page, cheap_password_hashing, page_text, use_session

LIEVIN = "62510"
HENIN_BEAUMONT = "62427"
CODE = re.compile(r'class="cr-claim-code">([A-Z0-9-]+)<')
LINK = re.compile(r"http://testserver/\S+")
FORM_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def app(settings: Settings, session: Session, smtp_server: SmtpServer) -> Iterator[FastAPI]:
    """The application on the test's session, sending its mail to `smtp_server`, its clock at NOW."""
    app = create_app(settings.model_copy(update={**smtp_server.settings, "base_url": "http://testserver"}))
    use_session(app, session)
    app.state.clock = lambda: NOW
    yield app
    app.state.engine.dispose()


@pytest.fixture(autouse=True)
def _cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_password_hashing(monkeypatch)


def mediator_user(session: Session, commune: str = LIEVIN) -> User:
    user = make_user(session, name="Malik S., médiateur", commune=commune)
    accounts.grant_role(session, user, Role.mediator, now=NOW, commune_insee=commune)
    session.commit()
    return user


@pytest.fixture
def mediator(client: TestClient, app: FastAPI, session: Session) -> User:
    user = mediator_user(session)
    sign_in(client, app, user)
    return user


def register_form(**changes: str) -> dict[str, str]:
    return {"display_name": "Jeanne D.", "given_name": "Jeanne", "family_name": "Dumont", "commune": LIEVIN,
            "birth_year": "1950", "terms_accepted": "yes", **changes}


def register(client: TestClient, session: Session, **changes: str) -> User:
    response = post(client, "/guichet/inscrire", register_form(**changes))
    assert response.status_code == 303, page_text(response)[:3000]
    user_id = int(response.headers["location"].rsplit("/", 1)[1])
    user = session.get(User, user_id)
    assert user is not None
    return user


def audit_of(session: Session, action: str) -> list[AuditEntry]:
    return list(session.exec(select(AuditEntry).where(AuditEntry.action == action)))


# --- who may use the counter


def test_visitors_are_sent_to_sign_in(client: TestClient) -> None:
    response = client.get("/guichet", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/connexion?next=%2Fguichet")


@pytest.mark.parametrize("role", [None, Role.moderator, Role.evaluator])
def test_residents_moderators_and_evaluators_are_refused(client: TestClient, app: FastAPI, session: Session,
                                                         role: Role | None) -> None:
    user = make_user(session)
    if role is Role.moderator:
        axis = session.exec(select(Axis).where(Axis.number == 1)).one()
        accounts.grant_role(session, user, role, now=NOW, axis_id=axis.id)
    elif role is not None:
        accounts.grant_role(session, user, role, now=NOW)
    resident = make_user(session, commune=LIEVIN)
    session.commit()
    sign_in(client, app, user)
    for path in ("/guichet", "/guichet/inscrire", f"/guichet/habitants/{resident.id}"):
        assert_page(client.get(path), 403)
    assert post(client, "/guichet/inscrire", register_form()).status_code == 403
    assert post(client, f"/guichet/habitants/{resident.id}/residence", {}).status_code == 403
    assert post(client, f"/guichet/habitants/{resident.id}/code", {}).status_code == 403
    assert audit_of(session, "resident.registered") == []


def test_a_mediator_of_lievin_cannot_act_for_henin_beaumont(client: TestClient, session: Session,
                                                            mediator: User) -> None:
    elsewhere = make_user(session, name="Paul Martin", commune=HENIN_BEAUMONT)
    voting = make_consultation(session, phase="voting")
    proposal = make_proposal(session, voting, make_user(session))
    session.commit()
    refused = post(client, "/guichet/inscrire", register_form(commune=HENIN_BEAUMONT))
    assert "Vous n’êtes pas médiateur ou médiatrice de la commune de cette personne." in assert_page(refused, 403)
    assert_page(client.get("/guichet", params={"nom": "Paul", "commune": HENIN_BEAUMONT}), 403)
    found = assert_page(client.get("/guichet", params={"nom": "Paul Martin"}))
    assert "Personne ne correspond" in found
    assert f"/guichet/habitants/{elsewhere.id}" not in found
    base = f"/guichet/habitants/{elsewhere.id}"
    assert_page(client.get(base), 403)
    assert_page(client.get(f"{base}/soutenir/{voting.slug}"), 403)
    assert post(client, f"{base}/residence", {}).status_code == 403
    assert post(client, f"{base}/soutenir/{voting.slug}", {"proposal": str(proposal.id)}).status_code == 403
    assert post(client, f"{base}/code", {}).status_code == 403
    assert session.exec(select(SupportVote)).all() == []
    assert session.exec(select(AuditEntry).where(AuditEntry.actor_id == proposal.author_id)).all() == []


# --- the counter


def test_find_a_resident(client: TestClient, session: Session, mediator: User) -> None:
    make_user(session, name="Hélène Lefèvre", commune=LIEVIN, birth_year=1948)
    session.commit()
    page = assert_page(client.get("/guichet"))
    assert "Guichet d’accompagnement" in page
    assert "Résultats" not in page
    found = assert_page(client.get("/guichet", params={"nom": "helene lefevre", "annee": "1948"}))
    assert "Hélène Lefèvre" in found
    assert "1 personne correspond." in found
    none = assert_page(client.get("/guichet", params={"nom": "helene", "annee": "1990", "commune": LIEVIN}))
    assert "Personne ne correspond" in none
    assert 'href="/guichet/inscrire?nom=helene&amp;annee=1990&amp;commune=62510"' in none.replace("&", "&amp;")


def test_register_a_resident(client: TestClient, session: Session, mediator: User) -> None:
    form = assert_page(client.get("/guichet/inscrire", params={"nom": "Jeanne D.", "annee": "1950"}))
    assert 'value="Jeanne D."' in form
    assert 'value="1950"' in form
    user = register(client, session)
    assert (user.display_name, user.commune_insee, user.birth_year) == ("Jeanne D.", LIEVIN, 1950)
    assert (user.verification_level, user.verified_by_id, user.registered_by_id) == ("verified", mediator.id,
                                                                                      mediator.id)
    assert user.email is None
    assert user.terms_accepted_at == NOW
    page = assert_page(client.get(f"/guichet/habitants/{user.id}"))
    assert "Jeanne D. est inscrit·e, avec sa résidence vérifiée." in page
    assert "Sa résidence a été vérifiée le" in page
    [entry] = audit_of(session, "resident.registered")
    assert (entry.actor_id, entry.channel, entry.target_id) == (mediator.id, "assisted", str(user.id))


def test_a_refused_registration_keeps_what_was_typed(client: TestClient, session: Session, mediator: User) -> None:
    response = post(client, "/guichet/inscrire", register_form(display_name="J", birth_year="19x0",
                                                               terms_accepted=""))
    page = assert_page(response, 422)
    assert "Le nom affiché doit compter de 2 à 80 caractères." in page
    assert "Saisissez une année de naissance valide" in page
    assert "Confirmez que la personne a pris connaissance des conditions d’utilisation" in page
    assert 'value="Dumont"' in page
    assert 'href="#field-terms_accepted"' in page
    assert session.exec(select(User).where(User.registered_by_id == mediator.id)).all() == []


def test_a_probable_duplicate_is_shown_before_registering(client: TestClient, session: Session,
                                                         mediator: User) -> None:
    first = register(client, session)
    again = post(client, "/guichet/inscrire", register_form(display_name="Mamie Jeanne"))
    page = assert_page(again, 409)
    assert "Est-ce l’une de ces personnes ?" in page
    assert f'href="/guichet/habitants/{first.id}"' in page
    assert 'href="#field-confirmed_new"' in page
    assert 'value="Mamie Jeanne"' in page
    second = register(client, session, display_name="Mamie Jeanne", confirmed_new="yes")
    assert second.id != first.id


def test_verify_the_residence(client: TestClient, session: Session, mediator: User) -> None:
    resident = make_user(session, commune=LIEVIN)
    session.commit()
    page = assert_page(client.get(f"/guichet/habitants/{resident.id}"))
    assert "J’ai vérifié sa résidence" in page
    response = post(client, f"/guichet/habitants/{resident.id}/residence", {})
    assert response.status_code == 303
    assert resident.verification_level == "verified"
    [entry] = audit_of(session, "residence.verified")
    assert (entry.actor_id, entry.channel) == (mediator.id, "assisted")


def test_record_a_proposal(client: TestClient, session: Session, mediator: User) -> None:
    consultation = make_consultation(session, phase="proposals")
    session.commit()
    resident = register(client, session)
    page = assert_page(client.get(f"/guichet/habitants/{resident.id}"))
    url = f"/guichet/habitants/{resident.id}/proposer/{consultation.slug}"
    assert f'href="{url}"' in page
    assert_page(client.get(url))
    refused = post(client, url, {"title": "Court", "body": "Des bancs pour se reposer sur la place."})
    assert "Le titre doit compter entre 10 et 150 caractères." in assert_page(refused, 422)
    response = post(client, url, {"title": "Des bancs sur la place", "body": "Des bancs pour se reposer.",
                                  "commune": LIEVIN})
    assert response.status_code == 303
    proposal = session.exec(select(Proposal).where(Proposal.author_id == resident.id)).one()
    assert (proposal.channel, proposal.commune_insee, proposal.state) == ("assisted", LIEVIN, "published")
    [entry] = audit_of(session, "proposal.submitted")
    assert (entry.actor_id, entry.channel, entry.target_id) == (mediator.id, "assisted", str(proposal.id))
    assert "Jeanne D." in assert_page(client.get(f"/propositions/{proposal.id}"))  # under the resident's name
    done = page_text(client.get(f"/guichet/habitants/{resident.id}"))
    assert f'<a href="/propositions/{proposal.id}">« Des bancs sur la place »</a>' in done
    assert "(au guichet)" in done


def test_record_a_support(client: TestClient, session: Session, mediator: User) -> None:
    consultation = make_consultation(session, phase="voting", max_supports=1)
    author = make_user(session)
    first, second = (make_proposal(session, consultation, author, title=f"Un jardin partagé n° {n}")
                     for n in (1, 2))
    session.commit()
    resident = register(client, session)
    url = f"/guichet/habitants/{resident.id}/soutenir/{consultation.slug}"
    assert f'href="{url}"' in assert_page(client.get(f"/guichet/habitants/{resident.id}"))
    page = assert_page(client.get(url))
    assert "Il lui reste 1 soutien dans cette consultation." in page
    assert "Un jardin partagé n° 2" in page
    response = post(client, url, {"proposal": str(first.id)})
    assert response.status_code == 303
    after = assert_page(client.get(response.headers["location"]))
    assert "Le soutien est enregistré. Il lui reste 0 soutien." in after
    assert "Cette personne la soutient" in after
    vote = session.exec(select(SupportVote).where(SupportVote.voter_id == resident.id)).one()
    assert (vote.proposal_id, vote.channel) == (first.id, "assisted")
    [entry] = audit_of(session, "support.added")
    assert (entry.actor_id, entry.channel, entry.target_id) == (mediator.id, "assisted", str(first.id))
    over = post(client, url, {"proposal": str(second.id)})
    assert over.status_code == 303
    assert "Vous avez utilisé tous vos soutiens" in page_text(client.get(over.headers["location"]))
    assert session.exec(select(SupportVote).where(SupportVote.voter_id == resident.id)).all() == [vote]
    taken_back = post(client, url, {"proposal": str(first.id), "action": "remove"})
    assert taken_back.status_code == 303
    assert "Le soutien est retiré. Il lui reste 1 soutien." in page_text(client.get(taken_back.headers["location"]))
    assert session.exec(select(SupportVote).where(SupportVote.voter_id == resident.id)).all() == []
    assert "Rien d’enregistré pour l’instant." in page_text(client.get(f"/guichet/habitants/{resident.id}"))
    post(client, url, {"proposal": str(second.id)})
    assert "1 soutien — Consultation" in page_text(client.get(f"/guichet/habitants/{resident.id}"))
    [removed] = audit_of(session, "support.removed")
    assert (removed.actor_id, removed.channel, removed.target_id) == (mediator.id, "assisted", str(first.id))


def test_record_a_ballot(client: TestClient, session: Session, mediator: User) -> None:
    consultation = make_consultation(session, phase="voting", voting_method="majority_judgment")
    author = make_user(session)
    made = [make_proposal(session, consultation, author) for _ in range(2)]
    session.commit()
    resident = register(client, session)
    url = f"/guichet/habitants/{resident.id}/voter/{consultation.slug}"
    assert f'href="{url}"' in assert_page(client.get(f"/guichet/habitants/{resident.id}"))
    assert_page(client.get(url))
    missing = post(client, url, {f"grade-{made[0].id}": "bien"})
    assert "Donnez une mention à chaque proposition" in assert_page(missing, 422)
    response = post(client, url, {f"grade-{made[0].id}": "bien", f"grade-{made[1].id}": "a_rejeter"})
    assert response.status_code == 303
    ballot = session.exec(select(Ballot).where(Ballot.voter_id == resident.id)).one()
    assert ballot.channel == "assisted"
    [entry] = audit_of(session, "ballot.cast")
    assert (entry.actor_id, entry.channel) == (mediator.id, "assisted")
    assert "Cette personne a déjà voté" in assert_page(client.get(url))
    assert f"A voté — {consultation.title}" in page_text(client.get(f"/guichet/habitants/{resident.id}"))
    supports_only = make_consultation(session, phase="voting")
    session.commit()
    assert_page(client.get(f"/guichet/habitants/{resident.id}/voter/{supports_only.slug}"), 409)
    assert_page(client.get(f"/guichet/habitants/{resident.id}/soutenir/{consultation.slug}"), 409)


def test_print_a_claim_code(client: TestClient, session: Session, mediator: User) -> None:
    resident = register(client, session)
    response = post(client, f"/guichet/habitants/{resident.id}/code", {})
    page = assert_page(response)
    assert response.headers["cache-control"] == "no-store"
    code = CODE.search(page)
    assert code, page
    assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}", code.group(1))
    assert "http://testserver/compte/reclamer" in page
    assert "css/assisted.css" in page
    [entry] = audit_of(session, "claim_code.issued")
    assert (entry.actor_id, entry.channel) == (mediator.id, "assisted")
    # Shown once: the resident's page offers a new one, never the same code again.
    assert code.group(1) not in page_text(client.get(f"/guichet/habitants/{resident.id}"))


# --- claiming the account


def claim_code(client: TestClient, app: FastAPI, session: Session) -> tuple[User, str]:
    """A resident registered at the counter and the code printed for them (then the mediator leaves)."""
    mediator = mediator_user(session)
    sign_in(client, app, mediator)
    resident = register(client, session)
    found = CODE.search(page_text(post(client, f"/guichet/habitants/{resident.id}/code", {})))
    assert found
    client.cookies.clear()
    return resident, found.group(1)


def form_token(client: TestClient, page: str) -> str:
    """The CSRF token of the form on `page` (a visitor's page has it in the form only)."""
    found = FORM_TOKEN.search(client.get(page).text)
    assert found, f"no form token on {page}"
    return found.group(1)


def claim(client: TestClient, **data: str) -> Any:
    return client.post("/compte/reclamer", data={**data, "csrf_token": form_token(client, "/compte/reclamer")},
                       follow_redirects=False)


def test_claim_the_account(client: TestClient, app: FastAPI, session: Session, smtp_server: SmtpServer) -> None:
    resident, code = claim_code(client, app, session)
    assert 'href="/compte/reclamer"' in assert_page(client.get("/connexion"))
    page = assert_page(client.get("/compte/reclamer"))
    assert "Réclamer mon compte" in page
    response = claim(client, code=code.lower().replace("-", " "), email="jeanne@exemple.fr", password=PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/compte"
    account = assert_page(client.get("/compte"))  # signed in at once
    assert "Votre compte est à vous." in account
    assert "jeanne@exemple.fr" in account
    assert resident.email == "jeanne@exemple.fr"
    mail = smtp_server.pop()
    assert mail["To"] == "jeanne@exemple.fr"
    link = LINK.search(mail.get_content())
    assert link
    assert link.group().startswith("http://testserver/inscription/confirmer?jeton=")
    token = parse_qs(urlsplit(link.group()).query)["jeton"][0]
    confirmed = client.post("/inscription/confirmer", data={"jeton": token, "csrf_token": form_token(client, "/")},
                            follow_redirects=False)
    assert confirmed.status_code == 303
    client.post("/deconnexion", data={"csrf_token": form_token(client, "/")})
    client.cookies.clear()
    signed_in = client.post("/connexion", data={"email": "jeanne@exemple.fr", "password": PASSWORD,
                                                "csrf_token": form_token(client, "/connexion")}, follow_redirects=False)
    assert signed_in.status_code == 303
    assert "Jeanne D." in assert_page(client.get("/compte"))
    # The code served once.
    client.cookies.clear()
    again = claim(client, code=code, email="autre@exemple.fr", password=PASSWORD)
    assert "Ce code n’est pas valable" in assert_page(again, 400)


def test_a_refused_claim_keeps_what_was_typed(client: TestClient, app: FastAPI, session: Session) -> None:
    resident, code = claim_code(client, app, session)
    refused = claim(client, code=code, email="jeanne@exemple.fr", password="court")
    page = assert_page(refused, 422)
    assert "Le mot de passe doit compter au moins 12 caractères." in page
    assert 'value="jeanne@exemple.fr"' in page
    assert f'value="{code}"' in page
    assert resident.email is None
    assert claim(client, code=code, email="jeanne@exemple.fr", password=PASSWORD).status_code == 303


def test_wrong_codes_get_one_message_and_a_rate_limit(client: TestClient, app: FastAPI, session: Session) -> None:
    _resident, code = claim_code(client, app, session)
    app.state.rate_limiter.reset()
    messages = set()
    for attempt in range(10):
        refused = claim(client, code=f"ABCD-EFGH-JK{attempt:02d}", email="jeanne@exemple.fr", password=PASSWORD)
        page = assert_page(refused, 400)
        assert 'aria-invalid="true"' in page
        messages.add(re.findall(r'<p class="cr-error-text">([^<]+)</p>', page)[0])
    assert len(messages) == 1
    blocked = claim(client, code=code, email="jeanne@exemple.fr", password=PASSWORD)
    assert blocked.status_code == 429
    assert "Retry-After" in blocked.headers
