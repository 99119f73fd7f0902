"""The axis page lists its consultations: open ones first, filtered by phase and scope with a
plain GET form (htmx swaps only the list), each with its phase, its scope in words and its dates."""

from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.consultations.models import Consultation
from app.territory.models import Axis
from tests.factories import NOW, make_consultation
from tests.participation import HTMX
from tests.support import assert_fragment, assert_page

LENS_LIEVIN = "246200364"


@pytest.fixture(autouse=True)
def _frozen_clock(app: FastAPI) -> None:
    app.state.clock = lambda: NOW


def titled(session: Session, title: str, **fields: object) -> Consultation:
    consultation = make_consultation(session, **fields)  # type: ignore[arg-type]
    consultation.title = title
    session.add(consultation)
    session.flush()
    return consultation


def axis_slug(session: Session, number: int) -> str:
    return session.exec(select(Axis.slug).where(Axis.number == number)).one()


def test_axis_page_lists_its_published_consultations_open_ones_first(client: TestClient, session: Session) -> None:
    results = titled(session, "Des jardins partagés", phase="results", axis_number=3)
    voting = titled(session, "Des pistes cyclables", phase="voting", axis_number=3,
                               scope_kind="epci", scope_code=LENS_LIEVIN)
    titled(session, "Un brouillon secret", phase="voting", axis_number=3, status="draft")
    titled(session, "Sur un autre axe", phase="voting", axis_number=4)
    text = assert_page(client.get(f"/axes/{axis_slug(session, 3)}"))
    assert "2 consultations" in text
    assert text.index("Des pistes cyclables") < text.index("Des jardins partagés")  # open for participation first
    assert "Un brouillon secret" not in text
    assert "Sur un autre axe" not in text
    assert f'href="/consultations/{voting.slug}"' in text
    assert f'href="/consultations/{results.slug}"' in text
    assert "Vote ouvert" in text
    assert "Résultats publiés" in text
    assert "Réservée aux habitants de la Communauté d’agglomération de Lens - Liévin" in text
    assert "Ouverte aux habitants de tout le Bassin minier" in text
    assert "Vote jusqu’au" in text
    assert "6 mars 2027" in text  # the voting phase of the factories ends 5 days after NOW


def test_axis_page_without_consultations_says_so(client: TestClient, session: Session) -> None:
    text = assert_page(client.get(f"/axes/{axis_slug(session, 16)}"))
    assert "Aucune consultation n’est ouverte sur cet axe pour le moment." in text


def consultation_list(page: str) -> str:
    """The filtered list of an axis page, without the rest of the page."""
    return page.split('id="consultation-list"', 1)[1].split("</section>", 1)[0]


def test_filters_by_phase_and_scope_without_javascript(client: TestClient, session: Session) -> None:
    titled(session, "Idées pour les terrils", phase="proposals", axis_number=5)
    titled(session, "Vote sur les cités", phase="voting", axis_number=5, scope_kind="commune",
                      scope_code="62510")
    titled(session, "Suivi des friches", phase="follow_up", axis_number=5)
    slug = axis_slug(session, 5)
    page = assert_page(client.get(f"/axes/{slug}?phase=proposals"))
    assert '<option value="proposals" selected>' in page  # the form shows the filter in use
    # The filters apply to the list; the programme's trace further down always shows every consultation.
    text = consultation_list(page)
    assert "Idées pour les terrils" in text
    assert "Vote sur les cités" not in text
    text = consultation_list(assert_page(client.get(f"/axes/{slug}?scope=commune")))
    assert "Vote sur les cités" in text
    assert "Réservée aux habitants de Liévin" in text
    assert "Idées pour les terrils" not in text
    text = consultation_list(assert_page(client.get(f"/axes/{slug}?phase=results&scope=basin")))
    assert "Aucune consultation ne correspond à ces critères." in text


def test_unknown_filter_values_show_everything(client: TestClient, session: Session) -> None:
    titled(session, "Une consultation visible", phase="voting", axis_number=6)
    text = assert_page(client.get(f"/axes/{axis_slug(session, 6)}?phase=bientot&scope=monde"))
    assert "Une consultation visible" in text


def test_htmx_gets_only_the_list(client: TestClient, session: Session) -> None:
    titled(session, "Une consultation à lire", phase="information", axis_number=7)
    text = assert_fragment(client.get(f"/axes/{axis_slug(session, 7)}?phase=information", headers=HTMX))
    assert "Une consultation à lire" in text
    assert "En phase d’information" in text
    assert 'id="consultation-status"' in text
    assert "Consultations de cet axe" not in text  # the page's heading stays where it is


def test_upcoming_and_closed_consultations_give_their_dates(client: TestClient, session: Session) -> None:
    titled(session, "Bientôt", phase="information", axis_number=8, now=NOW + timedelta(days=25))
    titled(session, "Fini", phase="follow_up", axis_number=8, follow_up_ends_at=NOW - timedelta(days=1))
    text = assert_page(client.get(f"/axes/{axis_slug(session, 8)}"))
    assert "Bientôt ouverte" in text
    assert "Commence le" in text
    assert "21 mars 2027" in text
    assert "Terminée le" in text
    assert "28 février 2027" in text
