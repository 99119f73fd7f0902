"""The account pages in a real browser: sign-up and sign-in forms, password reset, onboarding, the
account page (access tokens, sign-out) and erasure, with and without JavaScript; every state a
person reaches passes axe-core and the basics."""

import re

import pytest
from playwright.sync_api import Locator, Page, Response, expect

from tests.browser.checks import check_accessibility
from tests.browser.conftest import Resident

pytestmark = pytest.mark.browser

PUBLIC_PAGES = ["/connexion", "/inscription", "/mot-de-passe-oublie", "/conditions-utilisation"]
MAX_TAB_STOPS = 40

ACTIVE_JS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) return null;
  return {
    tag: el.tagName.toLowerCase(),
    id: el.id,
    href: el.getAttribute('href'),
    text: (el.innerText || el.value || '').trim().slice(0, 60),
    region: el.closest('main') ? 'main' : el.closest('nav.cr-skiplinks') ? 'skiplinks'
      : el.closest('nav') ? 'nav' : el.closest('header') ? 'header' : 'other',
  };
}"""

def submit(page: Page, button: Locator) -> Response:
    """Click a submit button and wait for the page it leads to (axe must not run on the old one)."""
    with page.expect_navigation() as navigation:
        button.click()
    response = navigation.value
    assert response is not None
    return response


def nav(page: Page) -> Locator:
    return page.get_by_role("navigation", name="Menu principal")


def sign_in(page: Page, resident: Resident, *, next_path: str | None = None) -> Response:
    page.goto("/connexion" + (f"?next={next_path}" if next_path else ""))
    page.get_by_label("Adresse électronique").fill(resident.email)
    page.get_by_label("Mot de passe").fill(resident.password)
    return submit(page, page.get_by_role("button", name="Se connecter", exact=True))


def assert_signed_in(page: Page) -> None:
    expect(nav(page).get_by_role("link", name="Mon compte")).to_be_visible()
    expect(nav(page).get_by_role("button", name="Se déconnecter")).to_be_visible()
    expect(nav(page).get_by_role("link", name="Se connecter")).to_have_count(0)


def assert_anonymous(page: Page) -> None:
    expect(nav(page).get_by_role("link", name="Se connecter")).to_be_visible()
    expect(nav(page).get_by_role("link", name="Mon compte")).to_have_count(0)
    expect(nav(page).get_by_role("button", name="Se déconnecter")).to_have_count(0)


def flash(page: Page) -> Locator:
    return page.locator("#flash")


def assert_error_summary(page: Page, *messages: str) -> None:
    """RGAA 11.10: a summary that can take the focus and links to each field in error."""
    summary = page.locator("#error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_have_attribute("role", "alert")
    for message in messages:
        expect(summary).to_contain_text(message)
    summary.focus()
    expect(summary).to_be_focused()
    for href in summary.get_by_role("link").evaluate_all("links => links.map(a => a.getAttribute('href'))"):
        assert page.locator(href).count() == 1, f"the error summary links to {href}, which is not on the page"
    expect(page).to_have_title(re.compile(r"^Erreur — "))


def assert_field_error(field: Locator, message: str) -> None:
    """aria-invalid, and the error text read with the field (aria-describedby)."""
    expect(field).to_have_attribute("aria-invalid", "true")
    described_by = (field.get_attribute("aria-describedby") or "").split()
    page = field.page
    texts = [page.locator(f"#{element_id}").inner_text() for element_id in described_by
             if page.locator(f"#{element_id}").count() == 1]
    assert any(message in text for text in texts), f"aria-describedby={described_by} leads to {texts}, not {message!r}"
    expect(field).to_have_accessible_description(re.compile(re.escape(message)))


# --- public pages


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_public_account_page_is_accessible(page: Page, path: str) -> None:
    response = page.goto(path)
    assert response is not None
    assert response.status == 200, f"{path} answered {response.status}"
    check_accessibility(page)


def test_failed_sign_up_keeps_the_input_and_points_at_each_error(page: Page) -> None:
    page.goto("/inscription")
    page.get_by_label("Nom affiché").fill("Camille")
    page.get_by_label("Adresse électronique").fill("camille-sans-arobase")
    page.get_by_label("Mot de passe").fill("court")
    response = submit(page, page.get_by_role("button", name="Créer mon compte"))
    assert response.status == 422

    assert_error_summary(page, "Le formulaire contient 2 erreurs")
    name, email, password = (page.get_by_label(label) for label in ("Nom affiché", "Adresse électronique",
                                                                       "Mot de passe"))
    expect(name).to_have_value("Camille")
    expect(email).to_have_value("camille-sans-arobase")
    expect(password).to_have_value("")  # a password is never sent back in a page
    expect(name).not_to_have_attribute("aria-invalid", "true")
    assert_field_error(email, "adresse")
    assert_field_error(password, "12 caractères")
    # The hint stays read with the field, before the error.
    expect(password).to_have_accessible_description(re.compile(r"^Au moins 12 caractères.*12 caractères"))
    check_accessibility(page)

    page.locator("#error-summary").get_by_role("link").first.click()
    expect(email).to_be_focused()


def test_forgotten_password_answers_the_same_for_any_address(page: Page) -> None:
    page.goto("/mot-de-passe-oublie")
    page.get_by_label("Adresse électronique").fill("personne@example.org")
    response = submit(page, page.get_by_role("button", name="Recevoir le lien"))
    assert response.status == 200
    expect(page.get_by_role("main")).to_contain_text("Si un compte utilise l’adresse personne@example.org")
    expect(page.get_by_label("Adresse électronique")).to_have_count(0)
    check_accessibility(page)


# --- signed in: the account page, tokens, sign-out


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_sign_in_tokens_and_sign_out(request: pytest.FixtureRequest, create_resident, javascript: bool) -> None:
    page: Page = request.getfixturevalue("page" if javascript else "page_without_js")
    resident = create_resident()
    sign_in(page, resident)
    expect(page).to_have_url(re.compile(r"^[^?]*://[^/]+/$"))
    assert_signed_in(page)
    expect(nav(page).get_by_role("link", name="Mon compte")).to_have_accessible_name(f"Mon compte ({resident.name})")
    check_accessibility(page)

    nav(page).get_by_role("link", name="Mon compte").click()
    expect(page).to_have_url(re.compile(r"/compte$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Mon compte")
    expect(page.get_by_role("main")).to_contain_text("Liévin")
    check_accessibility(page)

    # A token is shown once, on the answer to the form.
    page.get_by_label("Nom du nouveau jeton").fill("Tableur de suivi")
    response = submit(page, page.get_by_role("button", name="Créer un jeton"))
    assert response.status == 200
    secret = page.locator("#new-token")
    expect(secret).to_have_text(re.compile(r"^carreau_[A-Za-z0-9_-]{40,}$"))
    token = secret.inner_text()
    expect(page.get_by_role("row", name=re.compile("Tableur de suivi"))).to_be_visible()
    check_accessibility(page)
    bearer = {"Authorization": f"Bearer {token}"}
    me = page.request.get("/api/v1/me", headers=bearer)
    assert me.status == 200
    assert me.json()["display_name"] == resident.name

    page.goto("/compte")
    expect(page.locator("#new-token")).to_have_count(0)
    assert token not in page.content()

    submit(page, page.get_by_role("button", name="Révoquer Tableur de suivi"))
    expect(page).to_have_url(re.compile(r"/compte#jetons$"))
    expect(flash(page)).to_contain_text("Le jeton est révoqué")
    expect(page.get_by_role("row", name=re.compile("Tableur de suivi"))).to_contain_text("révoqué")
    expect(page.get_by_role("button", name=re.compile("^Révoquer"))).to_have_count(0)
    check_accessibility(page)
    assert page.request.get("/api/v1/me", headers=bearer).status == 401

    submit(page, nav(page).get_by_role("button", name="Se déconnecter"))
    expect(page).to_have_url(re.compile(r"^[^?]*://[^/]+/$"))
    expect(flash(page)).to_contain_text("Vous êtes déconnecté·e.")
    assert_anonymous(page)
    check_accessibility(page)
    page.goto("/compte")
    expect(page).to_have_url(re.compile(r"/connexion\?next=%2Fcompte$"))


def test_sign_in_form_by_keyboard(page: Page, create_resident) -> None:
    """Tab goes through the skip links and the menu, then email, password and button; Enter signs in."""
    resident = create_resident()
    page.goto("/connexion")
    stops = []
    for _ in range(MAX_TAB_STOPS):
        page.keyboard.press("Tab")
        active = page.evaluate(ACTIVE_JS)
        assert active, f"Tab left the page after {stops}"
        stops.append(active)
        if active["id"] == "field-email":
            break
    else:
        pytest.fail(f"{MAX_TAB_STOPS} Tab presses did not reach the email field: {stops}")
    regions = [stop["region"] for stop in stops]
    assert regions[:3] == ["skiplinks"] * 3, f"the skip links do not come first: {stops}"
    assert "nav" in regions, f"the menu was not reached before the form: {stops}"
    order = ["skiplinks", "header", "nav", "main"]
    assert "other" not in regions, f"a Tab stop outside the page's regions: {stops}"
    ranks = [order.index(region) for region in regions]
    assert ranks == sorted(ranks), f"the Tab order jumps back and forth between regions: {regions}"

    page.keyboard.type(resident.email)
    page.keyboard.press("Tab")
    assert page.evaluate(ACTIVE_JS)["id"] == "field-password"
    page.keyboard.type(resident.password)
    page.keyboard.press("Tab")
    button = page.evaluate(ACTIVE_JS)
    assert (button["tag"], button["text"]) == ("button", "Se connecter")
    page.keyboard.press("Shift+Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert_signed_in(page)


# --- onboarding


def test_onboarding_with_javascript_searches_in_place(page: Page, create_resident) -> None:
    resident = create_resident(commune=None)
    sign_in(page, resident, next_path="/compte")
    expect(page).to_have_url(re.compile(r"/compte/bienvenue\?next=%2Fcompte$"))
    url = page.url
    expect(page.get_by_role("radio")).to_have_count(0)
    check_accessibility(page)

    page.evaluate("() => { window.__sameDocument = true; }")  # gone if the page is reloaded
    search = page.get_by_label("Chercher votre commune")

    def is_htmx_search(response: Response) -> bool:
        htmx = response.request.headers.get("hx-request") == "true"
        return htmx and "/compte/bienvenue?" in response.url and "q=62800" in response.url

    with page.expect_response(is_htmx_search) as fragment:
        search.press_sequentially("62800", delay=20)
    assert fragment.value.status == 200
    assert "<html" not in fragment.value.text().lower(), "htmx received a whole page instead of the fragment"
    lievin = page.get_by_role("radio", name=re.compile(r"^Liévin \(62800\)"))
    expect(lievin).to_be_visible()
    assert page.evaluate("() => window.__sameDocument === true"), "the search reloaded the whole page"
    assert page.url == url
    expect(search).to_be_focused()
    check_accessibility(page)

    lievin.check()
    page.get_by_role("checkbox", name=re.compile("J’accepte les")).check()
    submit(page, page.get_by_role("button", name="C’est parti"))
    expect(page).to_have_url(re.compile(r"/compte$"))
    expect(flash(page)).to_contain_text("C’est fait")
    expect(page.get_by_role("main")).to_contain_text("Liévin")
    expect(page.get_by_role("main")).to_contain_text("déclarée")
    check_accessibility(page)


def test_onboarding_without_javascript(page_without_js: Page, create_resident) -> None:
    page = page_without_js
    resident = create_resident(commune=None)
    sign_in(page, resident)
    expect(page).to_have_url(re.compile(r"/compte/bienvenue\?next=%2F$"))
    check_accessibility(page)

    birth_year = page.get_by_label("Année de naissance")
    search = page.get_by_label("Chercher votre commune")
    birth_year.fill("1985")
    search.fill("62800")
    response = submit(page, page.get_by_role("button", name="Chercher"))
    # A POST: a GET would put the form's CSRF token in the address, the history and the logs.
    assert response.request.method == "POST"
    assert "csrf_token" not in page.url
    lievin = page.get_by_role("radio", name=re.compile(r"^Liévin \(62800\)"))
    expect(lievin).to_be_visible()
    expect(search).to_have_value("62800")
    expect(birth_year).to_have_value("1985")
    check_accessibility(page)

    lievin.check()
    terms = page.get_by_role("checkbox", name=re.compile("J’accepte les"))
    expect(terms).not_to_be_checked()
    response = submit(page, page.get_by_role("button", name="C’est parti"))
    assert response.status == 422
    assert_error_summary(page, "Acceptez les conditions d’utilisation")
    assert_field_error(terms, "Acceptez les conditions d’utilisation")
    expect(lievin).to_be_checked()
    expect(birth_year).to_have_value("1985")
    expect(search).to_have_value("62800")
    check_accessibility(page)

    terms.check()
    submit(page, page.get_by_role("button", name="C’est parti"))
    expect(page).to_have_url(re.compile(r"^[^?]*://[^/]+/$"))
    expect(flash(page)).to_contain_text("C’est fait")
    page.goto("/compte")
    expect(page.get_by_role("main")).to_contain_text("Liévin")
    expect(page.get_by_label("Année de naissance (facultatif)")).to_have_value("1985")
    check_accessibility(page)


def test_onboarding_without_a_commune_points_at_the_search(page_without_js: Page, create_resident) -> None:
    page = page_without_js
    sign_in(page, create_resident(commune=None))
    page.get_by_role("checkbox", name=re.compile("J’accepte les")).check()
    response = submit(page, page.get_by_role("button", name="C’est parti"))
    assert response.status == 422
    assert_error_summary(page, "Choisissez votre commune dans la liste")
    expect(page.get_by_role("checkbox", name=re.compile("J’accepte les"))).to_be_checked()
    check_accessibility(page)
    # The summary's link leads to where a commune is chosen: the search, the radios not being there yet.
    page.locator("#error-summary").get_by_role("link", name="Choisissez votre commune dans la liste").click()
    expect(page.get_by_label("Chercher votre commune")).to_be_focused()


# --- erasure


def test_erase_account(page: Page, create_resident) -> None:
    resident = create_resident()
    sign_in(page, resident, next_path="/compte")
    page.get_by_role("link", name="Supprimer mon compte").click()
    expect(page).to_have_url(re.compile(r"/compte/supprimer$"))
    check_accessibility(page)

    confirmation = page.get_by_label("Pour confirmer, écrivez SUPPRIMER")
    confirmation.fill("oui")
    button = page.get_by_role("button", name="Supprimer définitivement mon compte")
    assert submit(page, button).status == 422
    assert_error_summary(page, "Écrivez SUPPRIMER pour confirmer")
    assert_field_error(confirmation, "Écrivez SUPPRIMER pour confirmer")
    expect(confirmation).to_have_value("oui")
    check_accessibility(page)

    confirmation.fill("SUPPRIMER")
    submit(page, button)
    expect(page).to_have_url(re.compile(r"^[^?]*://[^/]+/$"))
    expect(flash(page)).to_contain_text("Votre compte est supprimé")
    assert_anonymous(page)
    check_accessibility(page)

    response = sign_in(page, resident)
    assert response.status == 400
    expect(page).to_have_url(re.compile(r"/connexion$"))
    expect(page).to_have_title(re.compile(r"^Erreur — Se connecter"))
    expect(page.get_by_role("main").get_by_role("alert")).to_contain_text("incorrect")
    expect(page.get_by_label("Adresse électronique")).to_have_value(resident.email)
    assert_anonymous(page)
    check_accessibility(page)
