"""The consultation page with its proposals, the submission and edit forms (preview, 422 keeping
what was typed, drafts), withdrawal and comments — without JavaScript, and as htmx fragments."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.accounts.models import User
from app.consultations.models import Consultation
from app.proposals.models import Comment, Proposal
from tests.factories import NOW, make_consultation, make_proposal, make_user
from tests.participation import HTMX, post, sign_in
from tests.support import assert_fragment, assert_page, page_text

LENS_LIEVIN = "246200364"
DOUAI = "59178"  # in Douaisis Agglo, not in Lens-Liévin
LIEVIN = "62510"
ORDER = re.compile(r'href="/propositions/(\d+)"')


@pytest.fixture(autouse=True)
def _frozen_clock(app: FastAPI) -> None:
    app.state.clock = lambda: NOW


@pytest.fixture
def author(session: Session) -> User:
    return make_user(session, name="Nadia Benali")


def consultation_with(session: Session, **fields: object) -> Consultation:
    consultation = make_consultation(session, **fields)  # type: ignore[arg-type]
    session.commit()  # routes may roll back their own work; the fixtures must survive it
    return consultation


def titles_in_order(text: str) -> list[int]:
    return [int(found) for found in ORDER.findall(text)]


# --- the consultation page


def test_consultation_page_shows_its_timeline_rules_and_text(client: TestClient, session: Session) -> None:
    consultation = consultation_with(
        session, phase="voting", max_supports=3, min_age=16, results_hidden_until_end=True,
        scope_kind="epci", scope_code=LENS_LIEVIN, body="## Le contexte\n\nUn **vrai** besoin.<script>x()</script>",
    )
    response = client.get(f"/consultations/{consultation.slug}")
    text = assert_page(response)
    assert consultation.title in text
    assert consultation.summary in text
    assert "<h4>Le contexte</h4>" in text  # Markdown rendered, headings kept below the page's own
    assert "<strong>vrai</strong>" in text
    assert "<script>x()" not in response.text
    timeline = text[text.index('class="cr-timeline"'):text.index("</ol>", text.index('class="cr-timeline"'))]
    assert timeline.count("<li") == 5
    assert timeline.count('aria-current="step"') == 1
    current = timeline[timeline.index('aria-current="step"'):]
    assert current.index("Vote") < current.index("</li>")
    assert "du 24 février 2027 au 6 mars 2027" in page_text_of(timeline)
    assert "Réservée aux habitants de la Communauté d’agglomération de Lens - Liévin" in text
    assert "Il faut avoir au moins 16 ans cette année." in text
    assert "Vous disposez de 3 soutiens" in text
    assert "Les résultats restent cachés jusqu’à la fin du vote." in text
    assert "Les plus soutenues" not in text  # no ranking while results are hidden
    assert "Version facile à lire et à comprendre" not in text  # no easy-read version written


def page_text_of(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def test_easy_read_version_is_one_click_away(client: TestClient, session: Session) -> None:
    consultation = consultation_with(session, easy_read_summary="Vous pouvez donner vos idées.",
                                     easy_read_rules="Vous avez 3 votes.")
    text = assert_page(client.get(f"/consultations/{consultation.slug}"))
    assert f'href="/consultations/{consultation.slug}?version=facile"' in text
    assert "Vous pouvez donner vos idées." not in text
    easy = assert_page(client.get(f"/consultations/{consultation.slug}?version=facile"))
    assert "Vous pouvez donner vos idées." in easy
    assert "Vous avez 3 votes." in easy
    assert "Revenir à la version habituelle" in easy


def test_an_ineligible_resident_is_told_why(client: TestClient, app: FastAPI, session: Session) -> None:
    consultation = consultation_with(session, phase="proposals", scope_kind="epci", scope_code=LENS_LIEVIN)
    from_douai = make_user(session, commune=DOUAI)
    session.commit()
    sign_in(client, app, from_douai)
    text = assert_page(client.get(f"/consultations/{consultation.slug}"))
    assert "Cette consultation est réservée aux habitants de la Communauté d’agglomération de Lens - Liévin." in text
    assert "/proposer" not in text  # no button that could only lead to a refusal
    refused = assert_page(client.get(f"/consultations/{consultation.slug}/proposer"), 403)
    assert "Cette consultation est réservée aux habitants de la Communauté d’agglomération de Lens - Liévin." in refused
    assert "<textarea" not in refused


def test_propose_button_only_in_the_proposals_phase(client: TestClient, app: FastAPI, session: Session) -> None:
    open_one = consultation_with(session, phase="proposals")
    voting = consultation_with(session, phase="voting")
    visitor = assert_page(client.get(f"/consultations/{open_one.slug}"))
    assert f'href="/consultations/{open_one.slug}/proposer"' in visitor
    assert "Connectez-vous pour participer" in visitor
    assert "/proposer" not in assert_page(client.get(f"/consultations/{voting.slug}"))


def test_drafts_and_hidden_proposals_are_not_shown_to_others(client: TestClient, app: FastAPI, session: Session,
                                                            author: User) -> None:
    draft = consultation_with(session, status="draft")
    consultation = consultation_with(session)
    hidden = make_proposal(session, consultation, author, title="Une proposition masquée", state="hidden",
                           moderation_reason="Masqué automatiquement après plusieurs signalements.")
    pending = make_proposal(session, consultation, author, title="Une proposition à relire", state="pending")
    shown = make_proposal(session, consultation, author, title="Une proposition visible")
    session.commit()
    assert_page(client.get(f"/consultations/{draft.slug}"), 404)
    listing = assert_page(client.get(f"/consultations/{consultation.slug}"))
    assert "Une proposition visible" in listing
    assert "Une proposition masquée" not in listing
    assert "Une proposition à relire" not in listing
    for item in (hidden, pending):
        assert_page(client.get(f"/propositions/{item.id}"), 404)
    sign_in(client, app, make_user(session))
    for item in (hidden, pending):
        assert_page(client.get(f"/propositions/{item.id}"), 404)
    sign_in(client, app, author)  # the author sees their own, with what is happening to it
    assert "Masqué automatiquement" in assert_page(client.get(f"/propositions/{hidden.id}"))
    assert "En attente de relecture" in assert_page(client.get(f"/propositions/{pending.id}"))
    assert_page(client.get(f"/propositions/{shown.id}"))


def test_filters_search_sorts_and_pages(client: TestClient, session: Session, author: User) -> None:
    consultation = consultation_with(session, phase="voting")
    bikes = make_proposal(session, consultation, author, title="Des vélos en libre-service",
                          body="Des stations près des gares.", commune_insee=LIEVIN, supports_count=5)
    garden = make_proposal(session, consultation, author, title="Un jardin partagé au pied du terril",
                           body="Pour les écoles du quartier.", commune_insee=DOUAI, comments_count=4,
                           now=NOW.replace(day=2))
    withdrawn = make_proposal(session, consultation, author, title="Une idée retirée", state="withdrawn")
    session.commit()
    base = f"/consultations/{consultation.slug}"
    everything = assert_page(client.get(base))
    assert "3 propositions" in everything
    assert '<option value="62510">Liévin</option>' in everything  # communes named by proposals only
    assert "Retirée par son auteur ou son autrice" in everything
    by_commune = assert_page(client.get(f"{base}?commune={DOUAI}"))
    assert titles_in_order(by_commune) == [garden.id]
    by_state = assert_page(client.get(f"{base}?state=withdrawn"))
    assert titles_in_order(by_state) == [withdrawn.id]
    searched = assert_page(client.get(f"{base}?q=VÉLOS"))  # accents and case folded
    assert titles_in_order(searched) == [bikes.id]
    assert "Aucune proposition ne correspond" in assert_page(client.get(f"{base}?q=piscine"))
    assert titles_in_order(assert_page(client.get(f"{base}?sort=supports")))[0] == bikes.id
    assert titles_in_order(assert_page(client.get(f"{base}?sort=recent")))[0] == garden.id
    assert titles_in_order(assert_page(client.get(f"{base}?sort=comments")))[0] == garden.id


def test_random_order_is_stable_for_a_visitor_and_pages(client: TestClient, session: Session, author: User) -> None:
    consultation = consultation_with(session)
    made = {make_proposal(session, consultation, author).id for _ in range(23)}
    session.commit()
    base = f"/consultations/{consultation.slug}"
    first = titles_in_order(assert_page(client.get(base)))
    assert len(first) == 20
    assert titles_in_order(assert_page(client.get(base))) == first  # the order of the moment, for everyone
    second_page = assert_page(client.get(f"{base}?page=2"))
    assert "page 2 sur 2" in second_page
    assert set(first) | set(titles_in_order(second_page)) == made
    assert titles_in_order(assert_page(client.get(f"{base}?sort=recent"))) != first or len(made) < 2


def test_htmx_gets_only_the_proposal_list(client: TestClient, session: Session, author: User) -> None:
    consultation = consultation_with(session)
    make_proposal(session, consultation, author, title="Des bancs sur la place")
    session.commit()
    text = assert_fragment(client.get(f"/consultations/{consultation.slug}?q=bancs", headers=HTMX))
    assert "Des bancs sur la place" in text
    assert 'id="proposal-status"' in text
    assert "Les étapes" not in text


# --- submitting


def test_submitting_needs_a_signed_in_person(client: TestClient, session: Session) -> None:
    consultation = consultation_with(session, phase="proposals")
    response = client.get(f"/consultations/{consultation.slug}/proposer", follow_redirects=False)
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert location.path == "/connexion"
    assert parse_qs(location.query)["next"] == [f"/consultations/{consultation.slug}/proposer"]
    expired = post(client, f"/consultations/{consultation.slug}/proposer", {"title": "Un titre assez long"})
    assert expired.status_code == 303  # the draft waits in the browser meanwhile
    assert expired.headers["location"].startswith("/connexion?next=")


def test_submit_a_proposal_without_javascript(client: TestClient, app: FastAPI, session: Session,
                                             author: User) -> None:
    consultation = consultation_with(session, phase="proposals")
    sign_in(client, app, author)
    form = assert_page(client.get(f"/consultations/{consultation.slug}/proposer"))
    assert f'data-draft="proposal-new-{consultation.slug}"' in form
    assert "Prévisualiser" in form
    response = post(client, f"/consultations/{consultation.slug}/proposer", {
        "title": "Des fontaines à eau dans les parcs", "body": "Il fait **chaud** l’été, [voir](https://exemple.fr).",
        "commune": LIEVIN, "estimated_cost": "12 000", "action": "submit",
    })
    assert response.status_code == 303
    proposal = session.exec(select(Proposal).where(Proposal.title == "Des fontaines à eau dans les parcs")).one()
    assert response.headers["location"] == f"/propositions/{proposal.id}"
    assert proposal.estimated_cost == 12000
    page = assert_page(client.get(response.headers["location"]))
    assert "Merci ! Votre proposition est publiée." in page
    assert f'data-draft-clear="proposal-new-{consultation.slug}"' in page  # the browser forgets the draft
    assert "<strong>chaud</strong>" in page
    assert 'rel="nofollow ugc noopener"' in page
    assert "Nadia Benali" in page
    assert "Liévin" in page
    assert "12\u202f000 €" in page  # French digit grouping
    again = assert_page(client.get(response.headers["location"]))
    assert "data-draft-clear" not in again  # said once


def test_refused_submission_keeps_every_typed_value(client: TestClient, app: FastAPI, session: Session,
                                                    author: User) -> None:
    consultation = consultation_with(session, phase="proposals", voting_method="budget", budget_total=100000)
    sign_in(client, app, author)
    response = post(client, f"/consultations/{consultation.slug}/proposer", {
        "title": "Court", "body": "Un texte <b>assez</b> long pour passer.", "commune": LIEVIN,
        "estimated_cost": "beaucoup",
    })
    text = assert_page(response, 422)
    assert "<title>Erreur" in text
    assert 'id="error-summary"' in text
    assert "Le titre doit compter entre 10 et 150 caractères." in text
    assert "Indiquez le coût en euros, en chiffres" in text
    assert 'value="Court"' in text
    assert "Un texte &lt;b&gt;assez&lt;/b&gt; long pour passer.</textarea>" in response.text
    assert '<option value="62510" selected>' in text
    assert 'value="beaucoup"' in text
    assert session.exec(select(Proposal).where(Proposal.consultation_id == consultation.id)).first() is None
    missing_cost = post(client, f"/consultations/{consultation.slug}/proposer", {
        "title": "Un titre tout à fait correct", "body": "Un texte assez long pour passer.",
    })
    assert "Indiquez un coût estimé : cette consultation est un budget participatif." in assert_page(missing_cost,
                                                                                                     422)


def test_preview_with_and_without_javascript(client: TestClient, app: FastAPI, session: Session,
                                             author: User) -> None:
    consultation = consultation_with(session, phase="proposals")
    sign_in(client, app, author)
    body = "Une *idée*\n\n- un\n- deux\n\n<script>alert(1)</script> [x](javascript:alert(1))"
    response = post(client, "/apercu", {"body": body}, htmx=True)
    fragment = assert_fragment(response)
    assert "<em>idée</em>" in fragment
    assert "<li>un</li>" in fragment
    assert "<script>" not in response.text
    assert 'href="javascript' not in response.text
    response = post(client, f"/consultations/{consultation.slug}/proposer", {
        "title": "Un titre en cours", "body": body, "action": "preview",
    })
    page = assert_page(response)
    assert "<em>idée</em>" in page
    assert "<script>alert" not in response.text
    assert 'value="Un titre en cours"' in page  # nothing lost, nothing submitted
    assert session.exec(select(Proposal).where(Proposal.consultation_id == consultation.id)).first() is None


def test_submitting_outside_the_proposals_phase_is_refused(client: TestClient, app: FastAPI, session: Session,
                                                           author: User) -> None:
    consultation = consultation_with(session, phase="voting")
    sign_in(client, app, author)
    text = assert_page(client.get(f"/consultations/{consultation.slug}/proposer"), 409)
    assert "Les propositions ne sont pas ouvertes en ce moment" in text
    refused = post(client, f"/consultations/{consultation.slug}/proposer", {
        "title": "Un titre tout à fait correct", "body": "Un texte assez long pour passer.",
    })
    assert "Les propositions ne sont pas ouvertes en ce moment" in assert_page(refused, 409)


# --- editing and withdrawing


def test_the_author_edits_before_any_support(client: TestClient, app: FastAPI, session: Session,
                                             author: User) -> None:
    consultation = consultation_with(session, phase="proposals")
    proposal = make_proposal(session, consultation, author, title="Un premier titre un peu long")
    session.commit()
    sign_in(client, app, author)
    page = assert_page(client.get(f"/propositions/{proposal.id}"))
    assert f'href="/propositions/{proposal.id}/modifier"' in page
    form = assert_page(client.get(f"/propositions/{proposal.id}/modifier"))
    assert 'value="Un premier titre un peu long"' in form
    assert f'data-draft="proposal-edit-{proposal.id}"' in form
    refused = post(client, f"/propositions/{proposal.id}/modifier", {"title": "Un titre corrigé et complet",
                                                                     "body": "Trop court"})
    assert "Le texte doit compter entre 15 et 5 000 caractères." in assert_page(refused, 422)
    done = post(client, f"/propositions/{proposal.id}/modifier", {"title": "Un titre corrigé et complet",
                                                                  "body": "Un texte enfin assez long."})
    assert done.status_code == 303
    page = assert_page(client.get(done.headers["location"]))
    assert "Un titre corrigé et complet" in page
    assert f'data-draft-clear="proposal-edit-{proposal.id}"' in page


def test_editing_is_locked_for_others_and_after_supports(client: TestClient, app: FastAPI, session: Session,
                                                         author: User) -> None:
    consultation = consultation_with(session, phase="proposals")
    supported = make_proposal(session, consultation, author, supports_count=1)
    other = make_proposal(session, consultation, make_user(session))
    session.commit()
    sign_in(client, app, author)
    assert "ne peut plus être modifiée" in assert_page(client.get(f"/propositions/{supported.id}/modifier"), 409)
    assert f"/propositions/{supported.id}/modifier" not in assert_page(client.get(f"/propositions/{supported.id}"))
    assert_page(client.get(f"/propositions/{other.id}/modifier"), 403)


def test_the_author_withdraws_after_confirming(client: TestClient, app: FastAPI, session: Session,
                                               author: User) -> None:
    consultation = consultation_with(session, phase="voting")
    proposal = make_proposal(session, consultation, author)
    session.commit()
    sign_in(client, app, author)
    confirm = assert_page(client.get(f"/propositions/{proposal.id}/retirer"))
    assert "Retirer ma proposition ?" in confirm
    assert session.get(Proposal, proposal.id).state == "published"  # opening the page changes nothing
    response = post(client, f"/propositions/{proposal.id}/retirer", {})
    assert response.status_code == 303
    page = assert_page(client.get(response.headers["location"]))
    assert "Proposition retirée" in page
    assert "ses soutiens ne comptent plus" in page
    assert 'name="action" value="add"' not in page  # no support button any more
    assert "Retirer ma proposition" not in page
    sign_in(client, app, make_user(session))
    assert_page(client.get(f"/propositions/{proposal.id}/retirer"), 403)


# --- comments


@pytest.fixture
def discussed(session: Session, author: User) -> Proposal:
    proposal = make_proposal(session, consultation_with(session, phase="voting"), author)
    session.commit()
    return proposal


def comment_ids(session: Session, proposal: Proposal) -> list[int]:
    return list(session.exec(select(Comment.id).where(Comment.proposal_id == proposal.id).order_by(Comment.id)))


def test_comment_reply_and_delete_without_javascript(client: TestClient, app: FastAPI, session: Session,
                                                     discussed: Proposal) -> None:
    first, second = make_user(session, name="Karim"), make_user(session, name="Louise")
    session.commit()
    sign_in(client, app, first)
    response = post(client, f"/propositions/{discussed.id}/commentaires", {"body": "Très bonne *idée* !"})
    [comment_id] = comment_ids(session, discussed)
    assert response.status_code == 303
    assert response.headers["location"] == f"/propositions/{discussed.id}#comment-{comment_id}"
    sign_in(client, app, second)
    reply = post(client, f"/propositions/{discussed.id}/commentaires", {"body": "Je suis d’accord.",
                                                                         "parent_id": str(comment_id)})
    reply_id = comment_ids(session, discussed)[-1]
    assert reply.headers["location"].endswith(f"#comment-{reply_id}")
    page = assert_page(client.get(f"/propositions/{discussed.id}"))
    assert "<em>idée</em>" in page
    assert page.index(f'id="comment-{comment_id}"') < page.index(f'id="comment-{reply_id}"')
    assert f'id="comment-{comment_id}-replies"' in page
    sign_in(client, app, first)
    deleted = post(client, f"/commentaires/{comment_id}/supprimer", {})
    assert deleted.status_code == 303
    page = assert_page(client.get(f"/propositions/{discussed.id}"))
    assert "Commentaire supprimé" in page  # the reply still hangs on it
    assert "Très bonne" not in page
    assert "Je suis d’accord." in page


def test_a_refused_comment_comes_back_as_typed(client: TestClient, app: FastAPI, session: Session,
                                               discussed: Proposal) -> None:
    sign_in(client, app, make_user(session))
    page = assert_page(post(client, f"/propositions/{discussed.id}/commentaires", {"body": "x"}), 422)
    assert "Le commentaire doit compter entre 2 et 3 000 caractères." in page
    assert ">x</textarea>" in page
    fragment = assert_fragment(post(client, f"/propositions/{discussed.id}/commentaires", {"body": " "}, htmx=True),
                               422)
    assert f'id="comment-form-{discussed.id}-new"' in fragment
    assert "Le commentaire doit compter entre 2 et 3 000 caractères." in fragment
    assert comment_ids(session, discussed) == []


def test_comments_with_htmx(client: TestClient, app: FastAPI, session: Session, discussed: Proposal) -> None:
    sign_in(client, app, make_user(session, name="Yasmine"))
    added = assert_fragment(post(client, f"/propositions/{discussed.id}/commentaires", {"body": "Bravo !"},
                                 htmx=True))
    [comment_id] = comment_ids(session, discussed)
    assert f'<li id="comment-{comment_id}"' in added
    assert 'hx-swap-oob="outerMorph"' in added  # the form comes back empty
    assert f'<span id="proposal-{discussed.id}-comments-count" hx-swap-oob="true">1</span>' in added
    reply = assert_fragment(post(client, f"/propositions/{discussed.id}/commentaires",
                                 {"body": "Merci !", "parent_id": str(comment_id)}, htmx=True))
    assert f'id="comment-form-{discussed.id}-{comment_id}"' in reply
    edited = assert_fragment(post(client, f"/commentaires/{comment_id}/modifier", {"body": "Bravo, vraiment !"},
                                  htmx=True))
    assert "Bravo, vraiment !" in edited
    assert "Votre commentaire est modifié." in edited
    removed = assert_fragment(post(client, f"/commentaires/{comment_id}/supprimer", {}, htmx=True))
    assert "Commentaire supprimé" in removed  # its reply keeps it in place
    reply_id = comment_ids(session, discussed)[-1]
    last = post(client, f"/commentaires/{reply_id}/supprimer", {}, htmx=True)
    assert_fragment(last)
    assert last.headers["HX-Reswap"] == "delete"  # nothing left to show in its place
    assert "Votre commentaire est supprimé." in last.text
    page = assert_page(client.get(f"/propositions/{discussed.id}"))
    assert "Commentaire supprimé" not in page  # no reply hangs on the deleted comment any more
    assert f'id="comment-{comment_id}"' not in page


def test_only_the_author_changes_a_comment(client: TestClient, app: FastAPI, session: Session,
                                           discussed: Proposal) -> None:
    writer = make_user(session)
    session.commit()
    sign_in(client, app, writer)
    post(client, f"/propositions/{discussed.id}/commentaires", {"body": "Mon avis."})
    [comment_id] = comment_ids(session, discussed)
    edit_page = assert_page(client.get(f"/commentaires/{comment_id}/modifier"))
    assert "Mon avis.</textarea>" in edit_page
    sign_in(client, app, make_user(session))
    assert_page(post(client, f"/commentaires/{comment_id}/modifier", {"body": "Pas le mien."}), 403)
    assert_page(post(client, f"/commentaires/{comment_id}/supprimer", {}), 403)
    page = assert_page(client.get(f"/propositions/{discussed.id}"))
    assert "Mon avis." in page
    assert f'action="/commentaires/{comment_id}/supprimer"' not in page


def test_visitors_are_invited_to_sign_in_to_comment(client: TestClient, discussed: Proposal) -> None:
    page = assert_page(client.get(f"/propositions/{discussed.id}"))
    assert "Connectez-vous pour commenter" in page
    assert 'action="/propositions/' + str(discussed.id) + '/commentaires"' not in page
    assert page_text(client.get(f"/propositions/{discussed.id}")).count("Pas encore de commentaire.") == 1
