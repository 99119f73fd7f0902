"""The consultations' back office in a real browser, with and without JavaScript: a moderator
signs in, creates a consultation (refused once, with everything kept and the errors by the
fields), previews it, publishes it and finds it on the public page of its axis; the edit form and
the confirmation pages (archive, close a phase) are visited too. Every page passes axe-core and
the basics.

Each run signs in a moderator of its own, on the axis 1, since the tests of a worker share their
server's database."""

import re
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import Role, User
from app.core.clock import utcnow
from app.core.db import make_engine
from app.core.templating import PARIS
from app.territory.models import Axis
from tests.browser.checks import check_accessibility
from tests.browser.conftest import Resident
from tests.browser.test_accounts import assert_error_summary, assert_field_error, flash, sign_in, submit

pytestmark = pytest.mark.browser

JS_IDS = ["js", "no-js"]


@pytest.fixture(scope="session")
def create_moderator(live_database_url: str,
                     create_resident: Callable[..., Resident]) -> Iterator[Callable[[int], tuple[Resident, str]]]:
    """A moderator of the axis `number` who signs in with a password, and that axis's slug."""
    engine = make_engine(live_database_url)

    def create(number: int) -> tuple[Resident, str]:
        resident = create_resident(name="Sophie, modératrice")
        with Session(engine) as session:
            user = session.exec(select(User).where(User.email == resident.email)).one()
            axis = session.exec(select(Axis).where(Axis.number == number)).one()
            accounts.grant_role(session, user, Role.moderator, now=utcnow(), axis_id=axis.id)
            slug = axis.slug
            session.commit()
        return resident, slug

    try:
        yield create
    finally:
        engine.dispose()


def field(page: Page, label: str) -> Locator:
    """The field labelled exactly `label`, a required one's star aside."""
    return page.get_by_label(re.compile("^" + re.escape(label) + r"\s*\*?$"))


def local(moment: datetime) -> str:
    """As a datetime-local field takes it: Paris time, to the minute."""
    return moment.astimezone(PARIS).strftime("%Y-%m-%dT%H:%M")


@pytest.mark.parametrize("javascript", [True, False], ids=JS_IDS)
def test_a_moderator_creates_previews_and_publishes_a_consultation(
        request: pytest.FixtureRequest, javascript: bool,
        create_moderator: Callable[[int], tuple[Resident, str]]) -> None:
    page: Page = request.getfixturevalue("page" if javascript else "page_without_js")
    moderator, axis_slug = create_moderator(1)
    title = f"Des jardins partagés dans les cités {uuid.uuid4().hex[:6]}"
    sign_in(page, moderator, next_path="/gestion/consultations")
    assert page.url.endswith("/gestion/consultations")
    expect(page.get_by_role("heading", level=1)).to_have_text("Gérer les consultations")
    check_accessibility(page)

    page.get_by_role("link", name="Créer une consultation").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Créer une consultation")
    check_accessibility(page)

    now = utcnow()
    field(page, "Titre").fill("Jar")  # too short: refused
    field(page, "Résumé").fill("Où créer des jardins partagés dans les cités minières ?")
    page.get_by_label("Présentation détaillée (facultatif)").fill("## Le contexte\n\nDes **jardins** pour tous.")
    page.get_by_label("Résumé facile à lire et à comprendre (FALC, facultatif)").fill("On crée des jardins.")
    page.get_by_label("Axe", exact=True).select_option("1")
    field(page, "Début de l’information").fill(local(now - timedelta(days=2)))
    field(page, "Début des propositions").fill(local(now - timedelta(days=1)))
    field(page, "Début du vote").fill(local(now + timedelta(days=14)))
    field(page, "Publication des résultats").fill(local(now + timedelta(days=28)))
    field(page, "Début du suivi des actions").fill(local(now + timedelta(days=35)))
    page.get_by_label("Nombre de soutiens par habitant").fill("3")
    page.get_by_label("Cacher les résultats jusqu’à la fin du vote").check()
    page.get_by_label("Avant publication", exact=False).check()
    response = submit(page, page.get_by_role("button", name="Créer le brouillon"))
    assert response.status == 422
    assert_error_summary(page, "Le titre doit compter entre 5 et 200 caractères.")
    assert_field_error(field(page, "Titre"), "Le titre doit compter entre 5 et 200 caractères.")
    expect(field(page, "Résumé")).to_have_value(
        "Où créer des jardins partagés dans les cités minières ?")
    expect(page.get_by_label("Nombre de soutiens par habitant")).to_have_value("3")
    expect(page.get_by_label("Avant publication", exact=False)).to_be_checked()
    check_accessibility(page)

    field(page, "Titre").fill(title)
    response = submit(page, page.get_by_role("button", name="Créer le brouillon"))
    assert response.status == 200
    expect(flash(page)).to_contain_text("La consultation est créée en brouillon")
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    expect(page.locator(".cr-tags")).to_contain_text("Brouillon")
    manage_url = page.url
    check_accessibility(page)

    page.get_by_role("link", name="Voir l’aperçu").click()
    expect(page).to_have_title(re.compile(f"^Aperçu — {re.escape(title)} — "))
    expect(page.get_by_text("Aperçu : la page publique telle qu’elle apparaîtra")).to_be_visible()
    expect(page.locator(".cr-prose strong")).to_have_text("jardins")
    check_accessibility(page)
    page.get_by_role("link", name="Version facile à lire et à comprendre (FALC)").click()
    expect(page.get_by_text("On crée des jardins.")).to_be_visible()
    check_accessibility(page)

    page.goto(f"/axes/{axis_slug}")
    expect(page.get_by_role("link", name=title)).to_have_count(0)  # a draft is not public

    page.goto(manage_url)
    page.get_by_role("link", name="Modifier").click()
    expect(field(page, "Titre")).to_have_value(title)
    check_accessibility(page)
    page.goto(manage_url)
    submit(page, page.get_by_role("button", name="Publier"))
    expect(flash(page)).to_contain_text("La consultation est publiée")
    expect(page.locator(".cr-tags")).to_contain_text("Publiée")
    check_accessibility(page)

    page.get_by_role("link", name="Clore la phase « Propositions » maintenant").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Clore la phase « Propositions » maintenant ?")
    check_accessibility(page)
    page.get_by_role("link", name="Annuler").click()
    page.get_by_role("link", name="Archiver").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Archiver la consultation ?")
    check_accessibility(page)

    page.goto(f"/axes/{axis_slug}")
    page.locator("#consultation-list").get_by_role("link", name=title).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    expect(page.get_by_text("Les propositions sont publiées après relecture par un modérateur.")).to_be_visible()
    check_accessibility(page)

    page.goto("/gestion/consultations?status=published")
    expect(page.get_by_role("link", name=title)).to_be_visible()
    check_accessibility(page)
