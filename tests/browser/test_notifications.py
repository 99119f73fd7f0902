"""Notifications in a real browser, with and without JavaScript: a resident follows a consultation
and a proposal (the button swapped in place by htmx, or the page posted), finds a notification in
the header's count and in the list, marks it read, chooses a daily digest, and unsubscribes from
the link of an email. Every state passes axe-core and the basics."""

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session

from app.accounts import service as accounts
from app.core.clock import utcnow
from app.core.db import make_engine
from app.notifications import service as notifications
from app.notifications.models import EmailFrequency, NotificationKind
from app.notifications.policy import unsubscribe_token
from tests.browser.checks import check_accessibility
from tests.browser.conftest import Resident
from tests.browser.test_accounts import flash, nav, sign_in, submit
from tests.browser.test_participation import FRICHES, JS_IDS, browser_page, htmx_exchange, open_proposal

pytestmark = pytest.mark.browser

SERVER_SECRET = "browser-tests-secret-key-0123456789abcdef"  # tests/browser/conftest.py gives it to the server
FRICHES_PROPOSAL = "Planter une forêt urbaine sur une friche de Bruay"


def user_id(database_url: str, resident: Resident) -> int:
    engine = make_engine(database_url)
    with Session(engine) as session:
        user = accounts.find_by_email(session, resident.email)
        assert user is not None
        found = user.id
    engine.dispose()
    assert found is not None
    return found


def tell(database_url: str, user: int, title: str) -> None:
    engine = make_engine(database_url)
    with Session(engine) as session:
        notifications.notify(session, [user], kind=NotificationKind.official_answer, target_type="consultation",
                             target_id=1, title=title, url=FRICHES, now=utcnow())
        session.commit()
    engine.dispose()


def frequency_of(database_url: str, user: int) -> EmailFrequency:
    engine = make_engine(database_url)
    with Session(engine) as session:
        found = notifications.email_frequency(session, user)
    engine.dispose()
    return found


def follow(page: Page, name: str, path_part: str, *, javascript: bool) -> None:
    button = page.get_by_role("button", name=name)
    expect(button).to_have_attribute("aria-pressed", "false")
    if javascript:
        with htmx_exchange(page, path_part, "POST"):
            button.click()
    else:
        submit(page, button)
        expect(flash(page)).to_contain_text("Vous suivez")
    expect(page.get_by_role("button", name=name)).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("status").filter(has_text="Vous la suivez")).to_be_visible()


@pytest.mark.parametrize("javascript", [True, False], ids=JS_IDS)
def test_follow_read_choose_and_unsubscribe(request: pytest.FixtureRequest, javascript: bool,
                                            create_resident: Callable[..., Resident],
                                            live_database_url: str) -> None:
    page = browser_page(request, javascript)
    resident = create_resident(name="Odile Lefebvre")
    me = user_id(live_database_url, resident)
    sign_in(page, resident, next_path=FRICHES)

    # Follow the consultation, then a proposal of it.
    follow(page, "Suivre cette consultation", "/suivre", javascript=javascript)
    check_accessibility(page)
    open_proposal(page, FRICHES, FRICHES_PROPOSAL)
    follow(page, "Suivre cette proposition", "/suivre", javascript=javascript)
    check_accessibility(page)

    # A notification arrives: the header counts it, the list shows it unread.
    tell(live_database_url, me, "Le vote est ouvert : « Terrils, friches et paysages »")
    page.goto("/")
    link = nav(page).get_by_role("link", name=re.compile(r"^Notifications 1 non lue$"))
    expect(link).to_be_visible()
    submit(page, link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Mes notifications")
    expect(page.locator(".cr-notification--unread")).to_have_count(1)
    expect(page.locator(".cr-notification--unread")).to_contain_text("Non lue")
    check_accessibility(page)
    submit(page, page.get_by_role("button", name=re.compile("^Marquer comme lue")))
    expect(flash(page)).to_contain_text("marquée comme lue")
    expect(page.locator(".cr-notification--unread")).to_have_count(0)
    expect(page.get_by_text("Vous avez tout lu.")).to_be_visible()
    expect(nav(page).get_by_role("link", name="Notifications", exact=True)).to_be_visible()
    check_accessibility(page)

    # A daily digest instead of a mail each time.
    submit(page, page.get_by_role("link", name="Choisir mes courriels"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Mes courriels de notification")
    expect(page.get_by_label("À chaque notification, dès qu’elle arrive")).to_be_checked()
    check_accessibility(page)
    page.get_by_label("Un résumé par jour, s’il y a du nouveau").check()
    submit(page, page.get_by_role("button", name="Enregistrer"))
    expect(flash(page)).to_contain_text("Votre choix est enregistré.")
    expect(page.get_by_label("Un résumé par jour, s’il y a du nouveau")).to_be_checked()
    check_accessibility(page)
    assert frequency_of(live_database_url, me) == EmailFrequency.daily

    # The link of an email: a page with a button (opening it changes nothing), then done.
    page.goto(f"/notifications/desabonnement/{unsubscribe_token(SERVER_SECRET, me)}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Ne plus recevoir de courriels")
    check_accessibility(page)
    assert frequency_of(live_database_url, me) == EmailFrequency.daily
    submit(page, page.get_by_role("button", name="Ne plus recevoir de courriels"))
    expect(page.get_by_text("C’est fait")).to_be_visible()
    check_accessibility(page)
    assert frequency_of(live_database_url, me) == EmailFrequency.never


def test_a_forged_unsubscribe_link_is_refused(page: Page) -> None:
    response = page.goto("/notifications/desabonnement/1.bm90LWEtc2lnbmF0dXJl")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_text("Ce lien de désabonnement n’est pas valable.")).to_be_visible()
    check_accessibility(page)
