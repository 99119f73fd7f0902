"""Assisted participation in a real browser: a mediator signs in, registers a resident at the
counter, records a support for them and prints their claim code (the slip alone on paper); the
resident later claims the account. Also a proposal and a ballot recorded at the counter, and the
counter's refusal of a resident. Every page and state passes axe-core and the basics."""

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Locator, Page, Response, expect
from sqlmodel import Session

from app.accounts import service as accounts
from app.accounts.models import Role
from app.core.clock import utcnow
from app.core.db import make_engine
from tests.browser.checks import check_accessibility
from tests.browser.conftest import LiveConsultation, Resident

pytestmark = pytest.mark.browser

LIEVIN = "62510"
SUPPORTED = "Un jardin partagé au pied du terril"
TITLES = [SUPPORTED, "Une fresque sur le chevalement", "Des bancs à la cité des Provinces"]


def submit(page: Page, button: Locator) -> Response:
    """Click a submit button and wait for the page it leads to (axe must not run on the old one)."""
    with page.expect_navigation() as navigation:
        button.click()
    response = navigation.value
    assert response is not None
    # The page's fonts come after its load event: leaving before they arrive would abort them.
    page.evaluate("() => document.fonts.ready.then(() => true)")
    return response


def sign_in(page: Page, person: Resident, next_path: str) -> None:
    page.goto(f"/connexion?next={next_path}")
    page.get_by_label("Adresse électronique").fill(person.email)
    page.get_by_label("Mot de passe").fill(person.password)
    submit(page, page.get_by_role("button", name="Se connecter", exact=True))
    expect(page).to_have_url(re.compile(re.escape(next_path) + "$"))


def flash(page: Page) -> Locator:
    return page.locator("#flash")


@pytest.fixture(scope="session")
def make_mediator(live_database_url: str, create_resident: Callable[..., Resident]) -> Iterator[Callable[[], Resident]]:
    """A person who signs in with a password and is a mediator of Liévin on the live server."""
    engine = make_engine(live_database_url)

    def make() -> Resident:
        person = create_resident(name="Malik S., médiateur")
        with Session(engine) as session:
            user = accounts.find_by_email(session, person.email)
            assert user is not None
            accounts.grant_role(session, user, Role.mediator, now=utcnow(), commune_insee=LIEVIN)
            session.commit()
        return person

    try:
        yield make
    finally:
        engine.dispose()


def register_resident(page: Page, name: str) -> None:
    """From the counter: search, find nobody, register the person (a refused form first)."""
    page.goto("/guichet")
    check_accessibility(page)
    page.get_by_label("Nom ou prénom").fill(name)
    page.get_by_label("Année de naissance (facultatif)").fill("1950")
    submit(page, page.get_by_role("button", name="Chercher"))
    expect(page.get_by_text("Personne ne correspond à cette recherche")).to_be_visible()
    check_accessibility(page)

    submit(page, page.get_by_role("link", name="Inscrire une personne"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Inscrire une personne")
    expect(page.get_by_label("Nom affiché")).to_have_value(name)
    expect(page.get_by_label("Année de naissance", exact=False).last).to_have_value("1950")
    check_accessibility(page)
    submit(page, page.get_by_role("button", name="Inscrire la personne"))  # no commune, terms not read
    expect(page).to_have_title(re.compile(r"^Erreur — "))
    summary = page.locator("#error-summary")
    expect(summary).to_contain_text("Choisissez la commune de la personne dans la liste.")
    expect(summary).to_contain_text("Confirmez que la personne a pris connaissance des conditions d’utilisation")
    check_accessibility(page)

    page.get_by_label("Commune de résidence").select_option(LIEVIN)
    page.get_by_label("Prénom (facultatif)").fill("Jeanne")
    page.get_by_role("checkbox", name=re.compile("J’ai présenté les")).check()
    submit(page, page.get_by_role("button", name="Inscrire la personne"))
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(flash(page)).to_contain_text(f"{name} est inscrit·e, avec sa résidence vérifiée.")
    check_accessibility(page)


def test_a_mediator_records_an_assisted_support(page: Page, make_mediator: Callable[[], Resident],
                                                create_consultation: Callable[..., LiveConsultation]) -> None:
    consultation = create_consultation(method="support", titles=TITLES, max_supports=2)
    sign_in(page, make_mediator(), "/guichet")
    register_resident(page, "Jeanne D.")
    resident_page = page.url

    participate = page.get_by_role("region", name="Participer pour cette personne")
    submit(page, participate.locator(f'a[href$="/soutenir/{consultation.slug}"]'))
    expect(page.get_by_role("heading", level=1)).to_have_text("Enregistrer un soutien")
    expect(page.get_by_text("Il lui reste 2 soutiens dans cette consultation.")).to_be_visible()
    check_accessibility(page)
    submit(page, page.get_by_role("button", name=f"Enregistrer son soutien : {SUPPORTED}"))
    expect(flash(page)).to_contain_text("Le soutien est enregistré. Il lui reste 1 soutien.")
    item = page.locator("li.cr-result", has_text=SUPPORTED)
    expect(item).to_contain_text("Cette personne la soutient")
    expect(item.get_by_role("button", name=f"Retirer son soutien : {SUPPORTED}")).to_be_visible()
    check_accessibility(page)

    # The public count includes it, like any support.
    page.goto(f"/consultations/{consultation.slug}/resultats")
    expect(page.locator(".cr-result", has_text=SUPPORTED)).to_contain_text("1")

    page.goto(resident_page)
    submit(page, page.get_by_role("button", name="Préparer un code à imprimer"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Code à imprimer pour Jeanne D.")
    code = page.locator(".cr-claim-code").inner_text().strip()
    assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}", code), code
    print_button = page.get_by_role("button", name="Imprimer")
    expect(print_button).to_be_visible()  # JavaScript shows it
    check_accessibility(page)
    page.emulate_media(media="print")
    expect(page.locator(".cr-claim-slip")).to_be_visible()
    expect(page.locator(".cr-claim-slip")).to_contain_text("/compte/reclamer")
    for hidden in (".cr-header", ".cr-footer", ".cr-breadcrumb", "h1", print_button):
        target = page.locator(hidden) if isinstance(hidden, str) else hidden
        expect(target).to_be_hidden()
    page.emulate_media(media="screen")

    # The resident, later, at home: claims the account with the code.
    submit(page, page.get_by_role("button", name="Se déconnecter"))
    page.goto("/compte/reclamer")
    check_accessibility(page)
    page.get_by_label("Code reçu au guichet").fill("ABCD-EFGH-JKMN")
    page.get_by_label("Votre adresse électronique").fill("jeanne.d@example.org")
    page.get_by_label("Choisissez un mot de passe").fill("les corons de Liévin sous la neige")
    submit(page, page.get_by_role("button", name="Prendre mon compte"))
    expect(page.locator("#error-summary")).to_contain_text("Ce code n’est pas valable")
    check_accessibility(page)
    page.get_by_label("Code reçu au guichet").fill(code.lower())
    page.get_by_label("Choisissez un mot de passe").fill("les corons de Liévin sous la neige")
    submit(page, page.get_by_role("button", name="Prendre mon compte"))
    expect(page).to_have_url(re.compile(r"/compte$"))
    expect(flash(page)).to_contain_text("Votre compte est à vous.")
    expect(page.get_by_text("jeanne.d@example.org")).to_be_visible()


def test_a_mediator_records_a_proposal_and_a_ballot(page: Page, make_mediator: Callable[[], Resident],
                                                    create_consultation: Callable[..., LiveConsultation]) -> None:
    proposing = create_consultation(method="support", titles=TITLES[:1], phase="proposals")
    judging = create_consultation(method="majority_judgment", titles=TITLES[1:])
    sign_in(page, make_mediator(), "/guichet")
    register_resident(page, "Louis P.")
    resident_page = page.url

    submit(page, page.locator(f'a[href$="/proposer/{proposing.slug}"]'))
    expect(page.get_by_role("heading", level=1)).to_have_text("Enregistrer une proposition")
    check_accessibility(page)
    page.get_by_label("Titre de la proposition").fill("Court")
    page.locator("#field-body").fill("Des bancs à l’ombre près de l’école.")
    submit(page, page.get_by_role("button", name="Enregistrer la proposition"))
    expect(page.locator("#error-summary")).to_contain_text("Le titre doit compter entre 10 et 150 caractères.")
    check_accessibility(page)
    page.get_by_label("Titre de la proposition").fill("Des bancs près de l’école Jean-Macé")
    submit(page, page.get_by_role("button", name="Enregistrer la proposition"))
    expect(flash(page)).to_contain_text("La proposition « Des bancs près de l’école Jean-Macé » est publiée.")

    page.goto(resident_page)
    submit(page, page.locator(f'a[href$="/voter/{judging.slug}"]'))
    expect(page.get_by_role("heading", level=1)).to_have_text("Enregistrer son vote")
    check_accessibility(page)
    page.get_by_role("group", name=TITLES[1]).get_by_role("radio", name="Très bien", exact=True).check()
    submit(page, page.get_by_role("button", name="Enregistrer son vote"))
    expect(page.locator("#error-summary")).to_contain_text("Donnez une mention à chaque proposition")
    check_accessibility(page)
    page.get_by_role("group", name=TITLES[2]).get_by_role("radio", name="Passable", exact=True).check()
    submit(page, page.get_by_role("button", name="Enregistrer son vote"))
    expect(flash(page)).to_contain_text("Le vote de Louis P. est enregistré.")


def test_the_counter_is_refused_to_a_resident(page: Page, create_resident: Callable[..., Resident]) -> None:
    sign_in(page, create_resident(), "/compte")
    response = page.goto("/guichet")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_text("Le guichet est réservé aux médiateurs et médiatrices.")).to_be_visible()
    check_accessibility(page)


def test_the_claim_code_without_javascript(page_without_js: Page, make_mediator: Callable[[], Resident]) -> None:
    page = page_without_js
    sign_in(page, make_mediator(), "/guichet")
    register_resident(page, "Rose M.")
    first = page.url

    # The same person registered twice would vote twice: the counter asks first.
    page.goto("/guichet/inscrire?nom=Rose+M.&annee=1950&commune=" + LIEVIN)
    page.get_by_role("checkbox", name=re.compile("J’ai présenté les")).check()
    submit(page, page.get_by_role("button", name="Inscrire la personne"))
    expect(page.get_by_role("heading", name="Est-ce l’une de ces personnes ?")).to_be_visible()
    expect(page.locator("#error-summary")).to_contain_text("Une personne du même nom, née la même année")
    check_accessibility(page)
    submit(page, page.get_by_role("link", name="Rose M."))
    expect(page).to_have_url(first)

    submit(page, page.get_by_role("button", name="Préparer un code à imprimer"))
    expect(page.get_by_role("button", name="Imprimer")).to_be_hidden()
    expect(page.get_by_text("la commande Imprimer de votre navigateur (Ctrl + P)")).to_be_visible()
    check_accessibility(page)
