"""Voting in a real browser: a majority-judgment ballot and a budget ballot cast with JavaScript and
without it, the budget's running total updated in place, and the results pages of the three
voting methods passing axe-core."""

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Locator, Page, Response, expect

from tests.browser.checks import assert_skip_link_first, check_accessibility
from tests.browser.conftest import LiveConsultation, Resident

pytestmark = pytest.mark.browser

TITLES = ["Un jardin partagé au pied du terril", "Une fresque sur le chevalement", "Des bancs à la cité des Provinces"]
COSTS = [4000, 5000, 7000]
NNBSP = "\u202f"


def submit(page: Page, button: Locator) -> Response:
    """Click a submit button and wait for the page it leads to."""
    with page.expect_navigation() as navigation:
        button.click()
    response = navigation.value
    assert response is not None
    return response


def sign_in(page: Page, resident: Resident, next_path: str) -> None:
    page.goto(f"/connexion?next={next_path}")
    page.get_by_label("Adresse électronique").fill(resident.email)
    page.get_by_label("Mot de passe").fill(resident.password)
    submit(page, page.get_by_role("button", name="Se connecter", exact=True))
    expect(page).to_have_url(re.compile(re.escape(next_path) + "$"))


def flash(page: Page) -> Locator:
    return page.locator("#flash")


def group(page: Page, title: str) -> Locator:
    return page.get_by_role("group", name=title)


def grade(page: Page, title: str, name: str) -> Locator:
    return group(page, title).get_by_role("radio", name=name, exact=True)


def vote_path(consultation: LiveConsultation) -> str:
    return f"/consultations/{consultation.slug}/vote"


# --- majority judgment


def test_majority_judgment_ballot_with_javascript(page: Page, create_consultation: Callable[..., LiveConsultation],
                                                  create_resident: Callable[..., Resident]) -> None:
    consultation = create_consultation(method="majority_judgment", titles=TITLES)
    sign_in(page, create_resident(), f"/consultations/{consultation.slug}")
    submit(page, page.get_by_role("link", name="Voter", exact=True))
    expect(page).to_have_url(re.compile(re.escape(vote_path(consultation)) + "$"))
    check_accessibility(page)
    first, second, third = TITLES
    expect(group(page, first).get_by_role("radio")).to_have_count(7)
    expect(group(page, first).get_by_role("link", name=first)).to_have_attribute("href", re.compile(r"^/propositions/"))

    # Arrow keys move within a group of radio buttons, natively.
    grade(page, first, "Excellent").check()
    grade(page, first, "Excellent").press("ArrowRight")
    expect(grade(page, first, "Très bien")).to_be_checked()
    expect(grade(page, first, "Très bien")).to_be_focused()
    grade(page, second, "Passable").check()
    grade(page, third, "À rejeter").check()
    submit(page, page.get_by_role("button", name="Enregistrer mon vote"))

    expect(flash(page)).to_contain_text("Merci ! Votre vote est enregistré.")
    expect(grade(page, first, "Très bien")).to_be_checked()
    expect(grade(page, second, "Passable")).to_be_checked()
    expect(grade(page, third, "À rejeter")).to_be_checked()
    check_accessibility(page)

    grade(page, second, "Bien").check()
    submit(page, page.get_by_role("button", name="Modifier mon vote"))
    expect(flash(page)).to_contain_text("Votre vote est modifié.")
    expect(grade(page, second, "Bien")).to_be_checked()


def test_majority_judgment_ballot_without_javascript(page_without_js: Page,
                                                     create_consultation: Callable[..., LiveConsultation],
                                                     create_resident: Callable[..., Resident]) -> None:
    page = page_without_js
    consultation = create_consultation(method="majority_judgment", titles=TITLES)
    sign_in(page, create_resident(), vote_path(consultation))
    first, second, third = TITLES
    grade(page, first, "Assez bien").check()
    grade(page, third, "Insuffisant").check()
    response = submit(page, page.get_by_role("button", name="Enregistrer mon vote"))
    assert response.status == 422

    expect(page).to_have_title(re.compile(r"^Erreur — "))
    summary = page.locator("#error-summary")
    expect(summary).to_have_attribute("role", "alert")
    expect(summary).to_contain_text("Donnez une mention à chaque proposition : il en manque 1.")
    link = summary.get_by_role("link", name=re.compile(re.escape(second)))
    href = link.get_attribute("href")
    assert href is not None
    expect(page.locator(href)).to_have_accessible_name(second)  # the fieldset of the proposal left ungraded
    expect(page.locator(href)).to_have_accessible_description("Choisissez une mention pour cette proposition.")
    expect(grade(page, first, "Assez bien")).to_be_checked()  # what was given stays
    expect(grade(page, third, "Insuffisant")).to_be_checked()
    check_accessibility(page)

    link.click()
    expect(page).to_have_url(re.compile(re.escape(href) + "$"))
    grade(page, second, "Très bien").check()
    submit(page, page.get_by_role("button", name="Enregistrer mon vote"))
    expect(flash(page)).to_contain_text("Merci ! Votre vote est enregistré.")
    expect(grade(page, second, "Très bien")).to_be_checked()

    submit(page, page.get_by_role("button", name="Retirer mon bulletin"))
    expect(flash(page)).to_contain_text("Votre bulletin est retiré")
    for title in TITLES:
        expect(group(page, title).locator("input:checked")).to_have_count(0)
    check_accessibility(page)


# --- participatory budget


def meter(page: Page) -> Locator:
    return page.locator("#budget-meter")


def test_budget_ballot_with_javascript(page: Page, create_consultation: Callable[..., LiveConsultation],
                                       create_resident: Callable[..., Resident]) -> None:
    consultation = create_consultation(method="budget", titles=TITLES, costs=COSTS, budget_total=10000)
    sign_in(page, create_resident(), vote_path(consultation))
    check_accessibility(page)
    expect(page.get_by_role("button", name="Calculer le total")).to_have_count(0)  # only without JavaScript
    status = page.get_by_role("status").filter(has_text="Votre sélection")
    expect(status).to_have_count(1)
    expect(status).to_contain_text(f"Votre sélection : 0 € sur 10{NNBSP}000 €. Il reste 10{NNBSP}000 €.")
    page.evaluate("() => { window.__sameDocument = true; }")
    status.evaluate("el => { el.__liveRegionKept = true; }")

    garden, mural, benches = (page.get_by_role("checkbox", name=re.compile(re.escape(title))) for title in TITLES)
    garden.check()
    expect(status).to_contain_text(f"Votre sélection : 4{NNBSP}000 € sur 10{NNBSP}000 €. Il reste 6{NNBSP}000 €.")
    benches.check()
    expect(status).to_contain_text(f"Votre sélection coûte 11{NNBSP}000 €, plus que le budget de 10{NNBSP}000 € : "
                                   "retirez une proposition.")
    assert status.evaluate("el => el.__liveRegionKept === true"), "the role=status region was replaced, not updated"
    assert page.evaluate("() => window.__sameDocument === true"), "choosing a project reloaded the page"
    expect(benches).to_be_focused()
    check_accessibility(page, skip_link=False)  # the focus is on a checkbox now
    assert_skip_link_first(page)

    # Over the budget, the server refuses with the same message; the selection stays.
    response = submit(page, page.get_by_role("button", name="Enregistrer mon vote"))
    assert response.status == 422
    expect(page.locator("#error-summary")).to_contain_text(
        f"Votre sélection coûte 11{NNBSP}000 €, plus que le budget de 10{NNBSP}000 € : retirez une proposition.")
    expect(garden).to_be_checked()
    expect(benches).to_be_checked()
    check_accessibility(page)

    benches.uncheck()
    mural.check()
    expect(meter(page)).to_contain_text(f"Votre sélection : 9{NNBSP}000 € sur 10{NNBSP}000 €. Il reste 1{NNBSP}000 €.")
    submit(page, page.get_by_role("button", name="Enregistrer mon vote"))
    expect(flash(page)).to_contain_text("Merci ! Votre vote est enregistré.")
    expect(garden).to_be_checked()
    expect(mural).to_be_checked()
    expect(benches).not_to_be_checked()
    expect(meter(page)).to_contain_text(f"Votre sélection : 9{NNBSP}000 €")


def test_budget_ballot_without_javascript(page_without_js: Page, create_consultation: Callable[..., LiveConsultation],
                                          create_resident: Callable[..., Resident]) -> None:
    page = page_without_js
    consultation = create_consultation(method="budget", titles=TITLES, costs=COSTS, budget_total=10000)
    sign_in(page, create_resident(), vote_path(consultation))
    garden, mural, benches = (page.get_by_role("checkbox", name=re.compile(re.escape(title))) for title in TITLES)
    mural.check()
    benches.check()
    expect(meter(page)).to_contain_text("Votre sélection : 0 €")  # nothing runs without JavaScript
    response = submit(page, page.get_by_role("button", name="Calculer le total"))
    assert response.status == 200
    expect(meter(page)).to_contain_text(f"Votre sélection coûte 12{NNBSP}000 €, plus que le budget de 10{NNBSP}000 € :"
                                        " retirez une proposition.")
    expect(mural).to_be_checked()
    expect(benches).to_be_checked()
    check_accessibility(page)

    response = submit(page, page.get_by_role("button", name="Enregistrer mon vote"))
    assert response.status == 422
    expect(page.locator("#error-summary")).to_contain_text(
        f"Votre sélection coûte 12{NNBSP}000 €, plus que le budget de 10{NNBSP}000 € : retirez une proposition.")
    expect(mural).to_be_checked()
    expect(benches).to_be_checked()

    benches.uncheck()
    garden.check()
    submit(page, page.get_by_role("button", name="Calculer le total"))
    expect(meter(page)).to_contain_text(f"Votre sélection : 9{NNBSP}000 € sur 10{NNBSP}000 €. Il reste 1{NNBSP}000 €.")
    submit(page, page.get_by_role("button", name="Enregistrer mon vote"))
    expect(flash(page)).to_contain_text("Merci ! Votre vote est enregistré.")
    expect(garden).to_be_checked()
    expect(mural).to_be_checked()
    expect(benches).not_to_be_checked()


# --- results


def assert_charts_and_table(page: Page, charts: int) -> None:
    images = page.locator("main svg[role=img]")
    expect(images).to_have_count(charts)
    for index in range(charts):
        expect(images.nth(index)).to_have_accessible_name(re.compile(r"\S"))
    expect(page.locator("main table")).to_have_count(1)


def test_majority_judgment_results_are_accessible(page: Page,
                                                  create_consultation: Callable[..., LiveConsultation]) -> None:
    votes = [{0: "excellent", 1: "bien", 2: "passable"}, {0: "tres_bien", 1: "bien", 2: "insuffisant"},
             {0: "bien", 1: "assez_bien", 2: "a_rejeter"}]
    consultation = create_consultation(method="majority_judgment", titles=TITLES, phase="results", votes=votes)
    response = page.goto(f"/consultations/{consultation.slug}")
    assert response is not None
    submit(page, page.get_by_role("link", name="Voir les résultats", exact=True))
    expect(page.locator("main")).to_contain_text("Résultats définitifs, calculés le")
    expect(page.locator("main")).to_contain_text("3 personnes ont voté.")
    assert_charts_and_table(page, 3)
    expect(page.locator("main svg[role=img]").first).to_have_accessible_name(re.compile(re.escape(TITLES[0])))
    check_accessibility(page)


def test_budget_results_are_accessible(page: Page, create_consultation: Callable[..., LiveConsultation]) -> None:
    consultation = create_consultation(method="budget", titles=TITLES, costs=COSTS, budget_total=10000,
                                       phase="results", votes=[[1, 0], [1], [2]])
    page.goto(f"/consultations/{consultation.slug}/resultats")
    expect(page.locator("main")).to_contain_text(f"Budget : 10{NNBSP}000 €. Financé : 9{NNBSP}000 €. "
                                                 f"Reste : 1{NNBSP}000 €.")
    assert_charts_and_table(page, 1)
    check_accessibility(page)


def test_support_results_are_accessible(page: Page, create_consultation: Callable[..., LiveConsultation]) -> None:
    consultation = create_consultation(method="support", titles=TITLES, phase="results",
                                       votes=[[0, 1], [1], [2, 0]])
    page.goto(f"/consultations/{consultation.slug}/resultats")
    expect(page.locator("main")).to_contain_text("1er ex æquo")
    assert_charts_and_table(page, 3)
    check_accessibility(page)


def test_hidden_results_page_is_accessible(page: Page, create_consultation: Callable[..., LiveConsultation]) -> None:
    consultation = create_consultation(method="majority_judgment", titles=TITLES, results_hidden_until_end=True)
    response = page.goto(f"/consultations/{consultation.slug}/resultats")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Résultats pas encore publiés")
    check_accessibility(page)
