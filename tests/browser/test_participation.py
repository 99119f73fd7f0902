"""Participation in a real browser, with and without JavaScript: browsing an axis and a
consultation (filters, FALC version, search, sorting, pages), submitting a proposal (preview,
refused then accepted, the draft kept on the device), supporting proposals up to the limit,
commenting, replying, deleting, reporting, and the plain-words refusal of a resident from
elsewhere. Every state a person reaches passes axe-core and the basics.

The demonstration data of the live server (app/demo.py) gives consultations in each phase; each
test signs in a resident of its own, since the tests of a worker share its server's database."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import pytest
from playwright.sync_api import Locator, Page, Response, expect
from sqlmodel import Session

from app.core.clock import utcnow
from app.core.db import make_engine
from app.proposals.routes import PROPOSALS_PER_PAGE
from tests.browser.checks import PageProblems, check_accessibility
from tests.browser.test_accounts import assert_error_summary, assert_field_error, flash, sign_in, submit
from tests.factories import make_consultation, make_proposal, make_user

pytestmark = pytest.mark.browser

LIEVIN = "62510"  # CA de Lens - Liévin
HENIN_BEAUMONT = "62427"  # CA d'Hénin-Carvin

# Proposals phase, CA de Lens - Liévin, 4 supports later
LOGEMENT = "/consultations/renovation-des-cites-minieres-de-lens-lievin-vos-priorites"
# Proposals phase, the whole basin
MOBILITE = "/consultations/se-deplacer-sans-voiture-dans-le-bassin-minier"
# Voting phase, CA d'Hénin-Carvin, 3 supports each, with a FALC version
CENTRALITES = "/consultations/redonner-vie-aux-centres-villes-de-l-agglomeration-d-henin-carvin"
CENTRALITES_AXIS = "/axes/centralites-urbaines"
# Voting phase, the whole basin, from 16 years of age, no limit
FRICHES = "/consultations/terrils-friches-et-paysages-quels-projets-pour-l-apres-mine"
MARCHE = "Un marché couvert en centre-ville d'Hénin-Beaumont"
CENTRALITES_TITLES = (
    MARCHE,
    "Des boutiques à l'essai dans les cellules commerciales vides",
    "Végétaliser la place de Carvin et y installer des bancs",
    "Une maison des services publics au cœur de Courrières",
)
PAGED_PROPOSALS = PROPOSALS_PER_PAGE + 3

JS_IDS = ["js", "no-js"]


def browser_page(request: pytest.FixtureRequest, javascript: bool) -> Page:
    return request.getfixturevalue("page" if javascript else "page_without_js")


def mark_document(page: Page) -> None:
    """A flag that a reload or a navigation would lose: htmx must swap in place."""
    page.evaluate("() => { window.__sameDocument = true; }")


def assert_same_document(page: Page) -> None:
    assert page.evaluate("() => window.__sameDocument === true"), f"{page.url} was loaded again instead of swapped"


# Counts the requests htmx has finished, swap included (its last event, htmx:finally:request).
COUNT_HTMX_REQUESTS_JS = """() => {
  if (window.__htmxDone === undefined) {
    window.__htmxDone = 0;
    document.addEventListener('htmx:finally:request', () => { window.__htmxDone += 1; }, true);
  }
  return window.__htmxDone;
}"""


@dataclass
class Exchange:
    """The answer to a request htmx sent, once the `with` block is left."""

    answered: Response | None = None

    @property
    def response(self) -> Response:
        assert self.answered is not None, "read the answer after the with block"
        return self.answered


@contextmanager
def htmx_exchange(page: Page, path: str, method: str = "GET", *, query: str = "") -> Iterator[Exchange]:
    """Wait for the request htmx sends to `path` (with `query` in its address) and for its swap."""
    done = page.evaluate(COUNT_HTMX_REQUESTS_JS)

    def wanted(response: Response) -> bool:
        request = response.request
        return (request.headers.get("hx-request") == "true" and request.method == method
                and path in response.url and query in response.url)

    exchange = Exchange()
    with page.expect_response(wanted) as answer:
        yield exchange
    exchange.answered = answer.value
    page.wait_for_function("(done) => window.__htmxDone > done", arg=done)


def expected_refusal(request: pytest.FixtureRequest, response: Response) -> None:
    """A refusal that htmx swaps in on purpose is not one of the page's problems."""
    problems: PageProblems = request.getfixturevalue("page_problems")
    problems.failed_requests.remove(f"{response.status} {response.request.method} {response.url}")


def card_titles(page: Page) -> list[str]:
    return page.locator("#proposal-list article h3").all_inner_texts()


def proposal_status(page: Page) -> Locator:
    return page.locator("#proposal-status")


def proposal_links(page: Page, consultation: str) -> dict[str, str]:
    """The address of each proposal of a consultation (a demonstration one: all on its first page)."""
    page.goto(consultation)
    links = page.locator("#proposal-list article h3 a")
    return dict(zip(links.all_inner_texts(), links.evaluate_all("links => links.map(a => a.getAttribute('href'))"),
                    strict=True))


def open_proposal(page: Page, consultation: str, title: str) -> None:
    """The consultation page, then the proposal, searched by a word of its title (the order is random)."""
    page.goto(f"{consultation}?sort=recent&q={title.split()[-1]}")
    page.locator("#proposal-list").get_by_role("link", name=title, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)


# --- data made for these tests on the live server


@pytest.fixture(scope="session")
def paged_consultation(live_database_url: str) -> tuple[str, list[str]]:
    """A consultation of axis 16 (none in the demonstration) in its proposals phase, with more
    proposals than a page holds: its path and its proposals' titles."""
    engine = make_engine(live_database_url)
    now = utcnow()
    with Session(engine) as session:
        consultation = make_consultation(session, phase="proposals", axis_number=16, now=now)
        author = make_user(session, name="Rémi Delattre", email=f"remi.{consultation.slug}@example.org", now=now)
        titles = [f"Idée numéro {n} pour l’image du Bassin minier" for n in range(1, PAGED_PROPOSALS + 1)]
        for n, title in enumerate(titles):
            make_proposal(session, consultation, author, title=title,
                          now=consultation.proposals_starts_at + timedelta(hours=n))
        session.commit()
        path = f"/consultations/{consultation.slug}"
    engine.dispose()
    return path, titles


# --- browsing


@pytest.mark.parametrize("javascript", [True, False], ids=JS_IDS)
def test_axis_page_filters_its_consultations(request: pytest.FixtureRequest, javascript: bool) -> None:
    page = browser_page(request, javascript)
    page.goto(CENTRALITES_AXIS)
    consultations = page.locator("#consultation-list")
    centralites = consultations.get_by_role("link", name=re.compile("^Redonner vie aux centres-villes"))
    expect(centralites).to_be_visible()
    expect(consultations).to_contain_text("Vote ouvert")
    expect(consultations).to_contain_text("Réservée aux habitants de")
    check_accessibility(page)

    phase = page.get_by_label("Phase")
    if javascript:
        mark_document(page)
        with htmx_exchange(page, CENTRALITES_AXIS) as answer:
            phase.select_option("proposals")
        assert "<html" not in answer.response.text().lower(), "htmx received a whole page instead of the list"
        assert_same_document(page)
    else:
        phase.select_option("proposals")
        submit(page, page.get_by_role("button", name="Filtrer"))
    expect(page).to_have_url(re.compile(r"phase=proposals"))
    expect(centralites).to_have_count(0)
    if consultations.locator("article").count() == 0:  # the demonstration has none on this axis
        expect(page.locator("#consultation-status")).to_have_text("Aucune consultation ne correspond à ces critères.")
    for meta in consultations.locator(".cr-card__meta").all_inner_texts():
        assert "Propositions ouvertes" in meta, f"a consultation in another phase is listed: {meta}"
    check_accessibility(page)

    if javascript:
        with htmx_exchange(page, CENTRALITES_AXIS):
            phase.select_option("voting")
        assert_same_document(page)
    else:
        phase.select_option("voting")
        submit(page, page.get_by_role("button", name="Filtrer"))
    expect(page).to_have_url(re.compile(r"phase=voting"))
    expect(page.locator("#consultation-status")).to_have_text(re.compile(r"^\s*\d+ consultations?\s*$"))
    expect(phase).to_have_value("voting")
    centralites.click()
    expect(page).to_have_url(re.compile(re.escape(CENTRALITES) + "$"))


@pytest.mark.parametrize("javascript", [True, False], ids=JS_IDS)
def test_consultation_page_timeline_falc_search_and_sort(request: pytest.FixtureRequest, javascript: bool) -> None:
    page = browser_page(request, javascript)
    page.goto(CENTRALITES)
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("^Redonner vie aux centres-villes"))
    current = page.locator(".cr-timeline li[aria-current='step']")
    expect(current).to_have_count(1)
    expect(current).to_contain_text("Vote")
    expect(current).to_contain_text("en cours")
    expect(page.locator(".cr-timeline li")).to_have_count(5)
    expect(page.get_by_role("main")).to_contain_text("Vous disposez de 3 soutiens")
    expect(page.get_by_role("link", name="Connectez-vous pour participer")).to_be_visible()
    expect(proposal_status(page)).to_have_text("8 propositions")
    check_accessibility(page)

    # The easy-read version, one click away, and back.
    page.get_by_role("link", name="Version facile à lire et à comprendre (FALC)").click()
    expect(page).to_have_url(re.compile(r"\?version=facile$"))
    easy = page.get_by_role("region", name="En facile à lire et à comprendre")
    expect(easy).to_be_visible()
    expect(easy.get_by_role("heading", name="Les règles")).to_be_visible()
    expect(page.get_by_role("region", name="En savoir plus")).to_have_count(0)
    check_accessibility(page)
    page.get_by_role("link", name="Revenir à la version habituelle").click()
    expect(page).to_have_url(re.compile(re.escape(CENTRALITES) + "$"))
    expect(page.get_by_role("region", name="En savoir plus")).to_be_visible()

    # Sorted by supports: the counts never go up down the list.
    search, sort = page.get_by_label("Rechercher"), page.get_by_label("Trier")
    if javascript:
        mark_document(page)
        with htmx_exchange(page, CENTRALITES, query="sort=supports"):
            sort.select_option("supports")
        assert_same_document(page)
    else:
        sort.select_option("supports")
        submit(page, page.get_by_role("button", name="Afficher"))
    expect(page).to_have_url(re.compile(r"sort=supports"))
    expect(page.locator("#proposal-list article")).to_have_count(8)
    counts = [int(re.search(r"(\d+) soutiens?", text).group(1))
              for text in page.locator("#proposal-list article .cr-facts").all_inner_texts()]
    assert counts == sorted(counts, reverse=True), f"not sorted by supports: {counts}"

    # Full-text search, accent-insensitive: "mediatheque" finds "médiathèque".
    if javascript:
        with htmx_exchange(page, CENTRALITES, query="q=mediatheque"):
            search.fill("mediatheque")
        assert_same_document(page)
        expect(search).to_be_focused()
    else:
        search.fill("mediatheque")
        submit(page, page.get_by_role("button", name="Afficher"))
    expect(page).to_have_url(re.compile(r"q=mediatheque"))
    expect(proposal_status(page)).to_have_text(re.compile(r"^\s*\d propositions?\s*$"))
    assert "Ouvrir la médiathèque d'Oignies le dimanche matin" in card_titles(page)
    assert len(card_titles(page)) < 8
    expect(search).to_have_value("mediatheque")
    expect(sort).to_have_value("supports")
    check_accessibility(page)

    if javascript:
        with htmx_exchange(page, CENTRALITES, query="q=zzyzx"):
            search.fill("zzyzx")
    else:
        search.fill("zzyzx")
        submit(page, page.get_by_role("button", name="Afficher"))
    expect(proposal_status(page)).to_have_text("Aucune proposition ne correspond à votre recherche.")
    expect(page.locator("#proposal-list article")).to_have_count(0)


@pytest.mark.parametrize("javascript", [True, False], ids=JS_IDS)
def test_proposals_are_paged_in_a_stable_random_order(request: pytest.FixtureRequest, javascript: bool,
                                                      paged_consultation: tuple[str, list[str]]) -> None:
    page = browser_page(request, javascript)
    path, titles = paged_consultation
    page.goto(path)
    expect(proposal_status(page)).to_have_text(f"{PAGED_PROPOSALS} propositions — page 1 sur 2")
    first_page = card_titles(page)
    assert len(first_page) == PROPOSALS_PER_PAGE
    pages = page.get_by_role("navigation", name="Pages de propositions")
    expect(pages.get_by_role("link", name="Page 1")).to_have_attribute("aria-current", "page")
    check_accessibility(page)

    pages.get_by_role("link", name="Suivante").click()
    expect(page).to_have_url(re.compile(r"page=2"))
    expect(proposal_status(page)).to_have_text(f"{PAGED_PROPOSALS} propositions — page 2 sur 2")
    second_page = card_titles(page)
    # The visitor's seed keeps the order: every proposal once over the two pages.
    assert sorted(first_page + second_page) == sorted(titles)
    check_accessibility(page)
    pages.get_by_role("link", name="Précédente").click()
    expect(proposal_status(page)).to_have_text(f"{PAGED_PROPOSALS} propositions — page 1 sur 2")
    assert card_titles(page) == first_page


# --- submitting a proposal


@pytest.mark.parametrize("javascript", [True, False], ids=JS_IDS)
def test_submit_a_proposal(request: pytest.FixtureRequest, create_resident, javascript: bool) -> None:
    page = browser_page(request, javascript)
    sign_in(page, create_resident(commune=LIEVIN), next_path=LOGEMENT)
    expect(page).to_have_url(re.compile(re.escape(LOGEMENT) + "$"))
    page.get_by_role("link", name="Proposer une idée").click()
    expect(page).to_have_url(re.compile(re.escape(LOGEMENT) + "/proposer$"))
    check_accessibility(page)

    title = page.get_by_label("Titre de votre proposition")
    body = page.get_by_role("textbox", name="Votre proposition", exact=True)
    commune = page.get_by_label("Commune concernée (facultatif)")
    suffix = "avec JavaScript" if javascript else "sans JavaScript"
    text = f"Des **bancs** et de l’ombre dans chaque cité, testé {suffix}.\n\n- sous les arbres\n- près des jardins"
    title.fill("Des bancs")  # too short: 10 characters at least
    body.fill(text)
    commune.select_option(LIEVIN)

    preview = page.locator("#proposal-preview")
    if javascript:
        mark_document(page)
        with htmx_exchange(page, "/apercu", "POST"):
            page.get_by_role("button", name="Prévisualiser").click()
        assert_same_document(page)
    else:
        submit(page, page.get_by_role("button", name="Prévisualiser"))
        expect(page).to_have_url(re.compile(r"/proposer#apercu$"))
    expect(preview.locator("strong")).to_have_text("bancs")
    expect(preview.get_by_role("listitem")).to_have_text(["sous les arbres", "près des jardins"])
    expect(title).to_have_value("Des bancs")
    expect(body).to_have_value(text)
    expect(commune).to_have_value(LIEVIN)
    check_accessibility(page)

    draft_key = f"carreau-draft:proposal-new-{LOGEMENT.rsplit('/', 1)[1]}"
    if javascript:
        # Nothing typed is lost if the page is left: the draft comes back into the empty form.
        page.reload()
        expect(page.locator(".cr-draft-notice")).to_contain_text("Nous avons remis le texte")
        expect(title).to_have_value("Des bancs")
        expect(body).to_have_value(text)
        expect(commune).to_have_value(LIEVIN)
        check_accessibility(page)

    response = submit(page, page.get_by_role("button", name="Publier ma proposition"))
    assert response.status == 422
    assert_error_summary(page, "Le formulaire contient une erreur", "Le titre doit compter entre 10 et 150 caractères.")
    assert_field_error(title, "Le titre doit compter entre 10 et 150 caractères.")
    expect(title).to_have_value("Des bancs")
    expect(body).to_have_value(text)
    expect(commune).to_have_value(LIEVIN)
    expect(body).not_to_have_attribute("aria-invalid", "true")
    check_accessibility(page)
    page.locator("#error-summary").get_by_role("link").first.click()
    expect(title).to_be_focused()

    full_title = f"Des bancs à l’ombre dans chaque cité ({suffix})"
    title.fill(full_title)
    submit(page, page.get_by_role("button", name="Publier ma proposition"))
    expect(page).to_have_url(re.compile(r"/propositions/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(full_title)
    expect(flash(page)).to_contain_text("Merci ! Votre proposition est publiée.")
    expect(page.locator(".cr-details")).to_contain_text("Liévin")
    expect(page.locator("article .cr-prose strong")).to_have_text("bancs")
    expect(page.get_by_role("link", name="Modifier ma proposition")).to_be_visible()
    check_accessibility(page)

    if javascript:
        assert page.evaluate("(key) => localStorage.getItem(key)", draft_key) is None, "the draft outlived the proposal"
    # The form is empty again, and the new proposal is listed.
    page.goto(f"{LOGEMENT}/proposer")
    expect(title).to_have_value("")
    expect(page.locator(".cr-draft-notice")).to_have_count(0)
    page.goto(f"{LOGEMENT}?sort=recent")
    expect(page.locator("#proposal-list article h3").first).to_have_text(full_title)


# --- supports


def support_count(page: Page) -> int:
    return int(page.locator(".cr-support__count strong").inner_text())


@pytest.mark.parametrize("javascript", [True, False], ids=JS_IDS)
def test_support_up_to_the_limit(request: pytest.FixtureRequest, create_resident, javascript: bool) -> None:
    page = browser_page(request, javascript)
    sign_in(page, create_resident(name="Farid", commune=HENIN_BEAUMONT), next_path=CENTRALITES)
    expect(page.get_by_role("link", name="Proposer une idée")).to_have_count(0)
    open_proposal(page, CENTRALITES, MARCHE)
    button = page.get_by_role("button", name="Soutenir cette proposition")
    status = page.locator(".cr-support [role='status']")
    expect(button).to_have_attribute("aria-pressed", "false")
    expect(status).to_have_text("Il vous reste 3 soutiens.")
    before = support_count(page)
    check_accessibility(page)

    def press() -> None:
        if javascript:
            with htmx_exchange(page, "/soutien", "POST"):
                button.click()
        else:
            submit(page, button)

    if javascript:
        mark_document(page)
    press()
    expect(button).to_have_attribute("aria-pressed", "true")
    expect(status).to_have_text("Vous soutenez cette proposition. Pour retirer votre soutien, appuyez de nouveau "
                                "sur le bouton. Il vous reste 2 soutiens.")
    expect(page.locator(".cr-support__count strong")).to_have_text(str(before + 1))
    expect(page.locator(".cr-support__count")).to_contain_text("soutien")
    if javascript:
        assert_same_document(page)
        expect(button).to_be_focused()
    else:
        expect(page).to_have_url(re.compile(r"/propositions/\d+#proposal-\d+-support$"))
        expect(flash(page)).to_have_text("Votre soutien est enregistré. Il vous reste 2 soutiens.")
    check_accessibility(page)

    press()  # pressed again: the support is taken back
    expect(button).to_have_attribute("aria-pressed", "false")
    expect(status).to_have_text("Il vous reste 3 soutiens.")
    expect(page.locator(".cr-support__count strong")).to_have_text(str(before))
    if javascript:
        assert_same_document(page)
        expect(button).to_be_focused()
    else:
        expect(flash(page)).to_have_text("Votre soutien est retiré. Il vous reste 3 soutiens.")

    # Three supports, then a fourth proposal: the limit is said where the button is.
    links = proposal_links(page, CENTRALITES)
    for n, title in enumerate(CENTRALITES_TITLES[:3]):
        page.goto(links[title])
        press()
        expect(button).to_have_attribute("aria-pressed", "true")
        expect(status).to_contain_text(f"Il vous reste {2 - n} soutien")
    page.goto(links[CENTRALITES_TITLES[3]])
    expect(status).to_have_text("Il vous reste 0 soutien.")
    before = support_count(page)
    if javascript:
        mark_document(page)
        with htmx_exchange(page, "/soutien", "POST") as answer:
            button.click()
        assert answer.response.status == 409
        assert_same_document(page)
        expected_refusal(request, answer.response)
    else:
        assert submit(page, button).status == 409
        expect(page).to_have_title(re.compile(r"^Erreur — "))
    error = page.locator(".cr-support [role='alert']")
    expect(error).to_have_text("Vous avez utilisé tous vos soutiens pour cette consultation. "
                               "Retirez-en un pour soutenir une autre proposition.")
    expect(button).to_have_attribute("aria-pressed", "false")
    expect(page.locator(".cr-support__count strong")).to_have_text(str(before))
    check_accessibility(page)


def test_a_resident_from_elsewhere_is_told_why(page_without_js: Page, create_resident) -> None:
    """Written by the server alone: the same with JavaScript."""
    page = page_without_js
    sign_in(page, create_resident(commune=LIEVIN), next_path=CENTRALITES)
    refusal = "Cette consultation est réservée aux habitants de la Communauté d’agglomération d'Hénin-Carvin."
    alert = page.get_by_role("main").locator(".cr-alert")
    expect(alert).to_contain_text("Vous ne pouvez pas participer à cette consultation")
    expect(alert).to_contain_text(refusal)
    check_accessibility(page)

    open_proposal(page, CENTRALITES, MARCHE)
    expect(page.locator(".cr-support__refusal")).to_have_text(refusal)
    expect(page.get_by_role("button", name="Soutenir cette proposition")).to_have_count(0)
    expect(page.locator(".cr-support__count")).to_be_visible()
    check_accessibility(page)

    # From 16 years of age, on the whole basin: the birth year is asked for, in plain words too.
    open_proposal(page, FRICHES, "Laisser certaines friches à la nature")
    expect(page.locator(".cr-support__refusal")).to_have_text(
        "Cette consultation est ouverte à partir de 16 ans : indiquez votre année de naissance depuis votre compte.")
    expect(page.get_by_role("button", name="Soutenir cette proposition")).to_have_count(0)


# --- comments and reports


@pytest.mark.parametrize("javascript", [True, False], ids=JS_IDS)
def test_comment_reply_delete_and_report(request: pytest.FixtureRequest, create_resident, javascript: bool) -> None:
    page = browser_page(request, javascript)
    resident = create_resident(name="Océane" if javascript else "Ludovic", commune=LIEVIN)
    title = ("Une application de covoiturage pour les horaires postés" if javascript
             else "Un transport à la demande pour les villages mal desservis")
    sign_in(page, resident, next_path=MOBILITE)
    open_proposal(page, MOBILITE, title)
    comments = page.locator("#comments-list")
    count = page.locator("[id$='-comments-count']")
    before = int(count.inner_text())

    # An empty comment is refused, then written and published.
    field = page.locator("form.cr-comment-form[id$='-new']").get_by_label("Votre commentaire")
    publish = page.get_by_role("button", name="Publier le commentaire")
    too_short = "Le commentaire doit compter entre 2 et 3 000 caractères."
    text = f"Bonne idée, je covoiturerais volontiers depuis Liévin ({resident.name})."
    if javascript:
        mark_document(page)
        with htmx_exchange(page, "/commentaires", "POST") as answer:
            publish.click()
        assert answer.response.status == 422
        expected_refusal(request, answer.response)
        assert_same_document(page)
        assert_field_error(field, too_short)
        expect(publish).to_be_focused()
        check_accessibility(page)
        field.fill(text)
        with htmx_exchange(page, "/commentaires", "POST"):
            publish.click()
        assert_same_document(page)
        expect(page.locator("#comments-status")).to_have_text("Votre commentaire est publié.")
        expect(field).to_have_value("")
        expect(field).not_to_have_attribute("aria-invalid", "true")
    else:
        # Refused, it comes back on a page of its own, where it can be written again.
        assert submit(page, publish).status == 422
        expect(page.get_by_role("heading", level=1)).to_have_text("Commenter la proposition")
        assert_error_summary(page, too_short)
        field = page.get_by_role("textbox", name="Votre commentaire")
        assert_field_error(field, too_short)
        check_accessibility(page)
        field.fill(text)
        submit(page, page.get_by_role("button", name="Publier", exact=True))
        expect(page).to_have_url(re.compile(r"/propositions/\d+#comment-\d+$"))
        expect(flash(page)).to_have_text("Votre commentaire est publié.")
    mine = comments.locator(":scope > li").filter(has_text=text)
    expect(mine).to_have_count(1)
    expect(mine.locator(".cr-comment__meta")).to_contain_text(resident.name)
    if not javascript:
        assert page.url.endswith("#" + (mine.get_attribute("id") or "?"))
    expect(count).to_have_text(str(before + 1))
    check_accessibility(page)

    # A reply to one's own comment, in its thread.
    mine.locator("summary").filter(has_text="Répondre").click()
    reply_text = f"Et au retour aussi, après le poste de nuit ({resident.name})."
    mine.get_by_label("Votre réponse").fill(reply_text)
    if javascript:
        with htmx_exchange(page, "/commentaires", "POST"):
            mine.get_by_role("button", name="Publier la réponse").click()
        assert_same_document(page)
    else:
        submit(page, mine.get_by_role("button", name="Publier la réponse"))
        expect(flash(page)).to_have_text("Votre commentaire est publié.")
    reply = comments.locator(".cr-comments--replies > li").filter(has_text=reply_text)
    expect(reply).to_have_count(1)
    expect(count).to_have_text(str(before + 2))
    check_accessibility(page)

    # Deleting the comment leaves its place to the reply that hangs on it.
    delete = mine.locator(".cr-comment__body").first.get_by_role("button", name="Supprimer votre commentaire")
    if javascript:
        page.once("dialog", lambda dialog: dialog.accept())
        with htmx_exchange(page, "/supprimer", "POST"):
            delete.click()
        assert_same_document(page)
        expect(page.locator("#comments-status")).to_have_text("Votre commentaire est supprimé.")
    else:
        submit(page, delete)
        expect(page).to_have_url(re.compile(r"#commentaires$"))
        expect(flash(page)).to_have_text("Votre commentaire est supprimé.")
    deleted = comments.locator(":scope > li").filter(has=page.locator(".cr-comments--replies", has_text=reply_text))
    expect(deleted).to_have_count(1)
    expect(deleted.locator(".cr-comment__body").first).to_have_text("Commentaire supprimé")
    expect(page.get_by_text(text)).to_have_count(0)
    expect(count).to_have_text(str(before + 1))  # a deleted comment is counted out
    check_accessibility(page)

    # The reply goes too; nothing is left of the thread once the page is loaded again.
    delete = reply.get_by_role("button", name="Supprimer votre commentaire")
    if javascript:
        page.once("dialog", lambda dialog: dialog.accept())
        with htmx_exchange(page, "/supprimer", "POST"):
            delete.click()
        assert_same_document(page)
        expect(reply).to_have_count(0)
        page.reload()
        mark_document(page)
    else:
        submit(page, delete)
    expect(page.get_by_text(reply_text)).to_have_count(0)
    expect(deleted).to_have_count(0)
    expect(count).to_have_text(str(before))

    # Reporting the proposal: a reason is needed, then a few words, then thanks.
    page.get_by_text("Signaler cette proposition").click()
    report = page.locator("[id^='report-proposal-']")
    send = report.get_by_role("button", name="Envoyer le signalement")
    details = "Cette idée concerne plutôt l’axe de l’emploi."
    report.get_by_label("Précisions").fill(details)
    check_accessibility(page)
    if javascript:
        with htmx_exchange(page, "/signalements", "POST") as answer:
            send.click()
        assert answer.response.status == 422
        expected_refusal(request, answer.response)
        assert_same_document(page)
    else:
        assert submit(page, send).status == 422
        expect(page.get_by_role("heading", level=1)).to_have_text("Signaler un contenu")
        expect(page).to_have_title(re.compile(r"^Erreur — "))
    expect(report.get_by_role("alert")).to_have_text("Précisez la raison du signalement.")
    expect(report.get_by_label("Précisions")).to_have_value(details)
    check_accessibility(page)

    report.get_by_label("Hors sujet").check()
    thanks = "Merci : votre signalement est enregistré. Un modérateur va l’examiner."
    if javascript:
        with htmx_exchange(page, "/signalements", "POST"):
            send.click()
        assert_same_document(page)
        expect(report).to_have_text(thanks)
        expect(report).to_have_attribute("role", "status")
    else:
        submit(page, send)
        expect(page).to_have_url(re.compile(r"/propositions/\d+$"))
        expect(page.get_by_role("heading", level=1)).to_have_text(title)
        expect(flash(page)).to_have_text(thanks)
    check_accessibility(page)
