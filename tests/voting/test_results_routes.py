"""The results page of a consultation (/consultations/{slug}/resultats) for the three voting
methods: the ranking with ties shown as ties, the counts, server-drawn SVG charts (role=img, their
figures in words) with the same figures in a table; a clear 403 page while results are hidden,
which the consultation's moderators may see early; the final snapshot and the moderation acts
after it, listed beside the results."""

import re
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import Role
from app.accounts.policy import Principal
from app.consultations.models import Consultation
from app.moderation import service as moderation
from app.moderation.models import ReportReason
from app.proposals.models import Proposal
from app.territory.models import Axis
from app.voting import service as supports
from app.voting.ballots import cast_ballot
from app.voting.methods.majority_judgment import GRADES
from app.voting.routes import rank_words
from tests.factories import NOW, make_consultation, make_proposal, make_user
from tests.participation import sign_in
from tests.support import assert_page

E, TB, B, AB, P, INS, R = GRADES
DAY = timedelta(days=1)
NNBSP = "\u202f"


@pytest.fixture(autouse=True)
def _frozen_clock(app: FastAPI) -> None:
    app.state.clock = lambda: NOW


def resident(session: Session) -> Principal:
    return accounts.load_principal(session, make_user(session))


def proposals_in(session: Session, consultation: Consultation, titles: list[str],
                 costs: list[int] | None = None) -> list[int]:
    author = make_user(session)
    return [make_proposal(session, consultation, author, title=title, now=NOW - DAY * (20 - n),
                          **({"estimated_cost": costs[n]} if costs else {})).id or 0
            for n, title in enumerate(titles)]


def results_url(consultation: Consultation) -> str:
    return f"/consultations/{consultation.slug}/resultats"


def svg_charts(page: str) -> list[str]:
    return re.findall(r"<svg [^>]*>.*?</svg>", page, re.S)


def table_rows(page: str) -> list[list[str]]:
    """Each body row of the page's tables as its cells' text."""
    rows = []
    for body in re.findall(r"<tbody>(.*?)</tbody>", page, re.S):
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
            cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
            rows.append([re.sub(r"<[^>]+>", "", cell).strip() for cell in cells])
    return rows


def test_rank_words() -> None:
    assert [rank_words(1, False), rank_words(1, True), rank_words(3, False), rank_words(3, True)] == [
        "1er", "1er ex æquo", "3e", "3e ex æquo"]


def test_majority_judgment_results(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, phase="voting", voting_method="majority_judgment")
    a, b, c = proposals_in(session, consultation, ["Un jardin partagé", "Une fresque murale", "Des bancs"])
    # a and c get the same grades (a true tie); b is lower.
    for grades in ({a: E, b: B, c: E}, {a: TB, b: P, c: TB}, {a: B, b: R, c: B}, {a: B, b: B, c: B}):
        cast_ballot(session, resident(session), consultation, grades=grades, now=NOW)
    session.commit()
    page = assert_page(client.get(results_url(consultation)))
    assert "<title>Résultats — " in page
    assert "Résultats provisoires : le vote est ouvert jusqu’au" in page
    assert "4 personnes ont voté." in page
    titles = re.findall(r'<h3 class="cr-result__title"><span class="cr-result__rank">([^<]+)</span> '
                        r'<a href="/propositions/(\d+)">', page)
    assert titles == [("1er ex æquo", str(a)), ("1er ex æquo", str(c)), ("3e", str(b))]
    assert "Mention majoritaire : <strong>Bien</strong>" in page

    charts = svg_charts(page)
    assert len(charts) == 3
    chart = charts[0]
    assert 'role="img"' in chart
    assert f'aria-labelledby="chart-{a}-title chart-{a}-desc"' in chart
    assert f'<title id="chart-{a}-title">Répartition des mentions de la proposition « Un jardin partagé »</title>' \
        in chart
    desc = re.search(r"<desc[^>]*>(.*?)</desc>", chart, re.S)
    assert desc
    assert desc.group(1).startswith(f"Excellent : 1 vote (25{NNBSP}%) ; Très bien : 1 vote (25{NNBSP}%) ; "
                                    f"Bien : 2 votes (50{NNBSP}%) ; Assez bien : 0 ")
    assert "À rejeter : 0 vote" in desc.group(1)
    assert desc.group(1).endswith("Mention majoritaire : Bien.")
    segments = re.findall(r'<rect class="cr-grade--(\w+) cr-chart__segment" x="([\d.]+)" y="0" width="([\d.]+)"',
                          chart)
    assert segments == [("excellent", "0.0", "250.0"), ("tres_bien", "250.0", "250.0"), ("bien", "500.0", "500.0")]
    assert "fill=" not in chart  # colours come from the stylesheet (CSP: no inline styles)
    assert "style=" not in page

    legend = re.search(r'<ul class="cr-legend" aria-label="Légende des couleurs">(.*?)</ul>', page, re.S)
    assert legend
    assert [name for name in re.findall(r"</span>([^<]+)</li>", legend.group(1))][:7] == [
        "Excellent", "Très bien", "Bien", "Assez bien", "Passable", "Insuffisant", "À rejeter"]
    assert "<caption>Nombre de votes pour chaque mention, par proposition</caption>" in page
    assert table_rows(page) == [
        ["1er ex æquo", "Un jardin partagé", "1", "1", "2", "0", "0", "0", "0", "Bien"],
        ["1er ex æquo", "Des bancs", "1", "1", "2", "0", "0", "0", "0", "Bien"],
        ["3e", "Une fresque murale", "0", "0", "2", "0", "1", "0", "1", "Passable"],
    ]


def test_budget_results(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, phase="voting", voting_method="budget", budget_total=10000)
    big, small, middle = proposals_in(session, consultation, ["Un grand parc", "Des nichoirs", "Un terrain de boules"],
                                      costs=[8000, 1000, 5000])
    # middle: 3 votes (funded: 5000 left); big: 2 votes (too expensive now, skipped); small: 1 (funded)
    for choice in ([middle, small], [middle], [middle], [big], [big]):
        cast_ballot(session, resident(session), consultation, proposal_ids=choice, now=NOW)
    session.commit()
    page = assert_page(client.get(results_url(consultation)))
    assert "5 personnes ont voté." in page
    assert f"Budget : 10{NNBSP}000 €. Financé : 6{NNBSP}000 €. Reste : 4{NNBSP}000 €." in page
    [chart] = svg_charts(page)
    assert 'role="img"' in chart
    assert "<title id=\"budget-chart-title\">Budget dépensé</title>" in chart
    assert (f"Les propositions financées coûtent 6{NNBSP}000 € sur un budget de 10{NNBSP}000 € ; "
            f"il reste 4{NNBSP}000 €.") in chart
    assert '<rect class="cr-chart__spent" x="0" y="0" width="600.0"' in chart
    assert table_rows(page) == [
        ["1er", "Un terrain de boules", "3", f"5{NNBSP}000 €", "Financée"],
        ["2e", "Un grand parc", "2", f"8{NNBSP}000 €", "Non financée : trop chère pour ce qui restait"],
        ["3e", "Des nichoirs", "1", f"1{NNBSP}000 €", "Financée"],
    ]
    assert page.count('<tr class="cr-row--funded">') == 2


def test_support_results(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, phase="voting")
    a, b, c = proposals_in(session, consultation, ["Un jardin partagé", "Une fresque murale", "Des bancs"])
    for proposal_id, count in ((a, 1), (b, 2), (c, 2)):
        proposal = session.get(Proposal, proposal_id)
        assert proposal is not None
        for _n in range(count):
            supports.add_support(session, resident(session), proposal, now=NOW)
    session.commit()
    page = assert_page(client.get(results_url(consultation)))
    assert "5 personnes ont soutenu au moins une proposition." in page
    titles = re.findall(r'<span class="cr-result__rank">([^<]+)</span> <a href="/propositions/(\d+)">', page)
    assert titles == [("1er ex æquo", str(b)), ("1er ex æquo", str(c)), ("3e", str(a))]
    charts = svg_charts(page)
    assert len(charts) == 3
    assert all('role="img"' in chart for chart in charts)
    assert f'<title id="chart-{b}-title">Soutiens de la proposition « Une fresque murale »</title>' in charts[0]
    assert "2 soutiens, sur 2 pour la plus soutenue." in charts[0]
    assert [re.search(r'class="cr-chart__spent" x="0" y="0" width="([\d.]+)"', chart).group(1)  # type: ignore[union-attr]
            for chart in charts] == ["1000.0", "1000.0", "500.0"]
    assert table_rows(page) == [["1er ex æquo", "Une fresque murale", "2"], ["1er ex æquo", "Des bancs", "2"],
                                ["3e", "Un jardin partagé", "1"]]


def test_hidden_results_answer_a_clear_403_page(client: TestClient, app: FastAPI, session: Session) -> None:
    consultation = make_consultation(session, phase="voting", voting_method="majority_judgment",
                                     results_hidden_until_end=True)
    [a] = proposals_in(session, consultation, ["Un jardin partagé"])
    cast_ballot(session, resident(session), consultation, grades={a: E}, now=NOW)
    session.commit()
    page = assert_page(client.get(results_url(consultation)), 403)
    assert "<h1>Résultats pas encore publiés</h1>" in page
    assert "Les résultats de cette consultation seront publiés à la fin du vote." in page
    assert "Un jardin partagé" not in page
    assert "<svg" not in page

    moderator = make_user(session)
    axis_id = session.exec(select(Axis.id).where(Axis.id == consultation.axis_id)).one()
    accounts.grant_role(session, moderator, Role.moderator, now=NOW, axis_id=axis_id)
    session.commit()
    sign_in(client, app, moderator)
    early = assert_page(client.get(results_url(consultation)))
    assert "Ces résultats ne sont pas encore publics" in early
    assert "Un jardin partagé" in early

    app.state.clock = lambda: consultation.results_starts_at + DAY
    client.cookies.clear()  # a visitor, once the vote is over
    assert "Un jardin partagé" in assert_page(client.get(results_url(consultation)))


def test_final_results_show_later_moderation_acts_beside_them(client: TestClient, app: FastAPI,
                                                              session: Session) -> None:
    consultation = make_consultation(session, phase="voting", voting_method="majority_judgment")
    a, b = proposals_in(session, consultation, ["Un jardin partagé", "Une fresque murale"])
    for grades in ({a: E, b: B}, {a: TB, b: P}):
        cast_ballot(session, resident(session), consultation, grades=grades, now=NOW)
    session.commit()
    closed_at = consultation.results_starts_at + timedelta(hours=1)
    app.state.clock = lambda: closed_at
    page = assert_page(client.get(results_url(consultation)))
    assert "Résultats définitifs, calculés le <time datetime=\"2027-03-06T13:00:00+00:00\">6 mars 2027" in page
    assert "Après la publication" not in page

    reporter = make_user(session)
    moderation.report(session, accounts.load_principal(session, reporter), target_type="proposal", target_id=a,
                      reason=ReportReason.spam, text=None, now=closed_at + DAY, threshold=1)
    session.commit()
    app.state.clock = lambda: closed_at + 2 * DAY
    page = assert_page(client.get(results_url(consultation)))
    assert "Résultats définitifs, calculés le <time datetime=\"2027-03-06T13:00:00+00:00\">6 mars 2027" in page
    acts = re.search(r'<aside class="cr-alert cr-alert--warning cr-later-acts"[^>]*>(.*?)</aside>', page, re.S)
    assert acts
    assert "Après la publication :" in acts.group(1)
    assert "Le 7 mars 2027, la proposition classée 1er a été masquée par la modération." in re.sub(
        r"<[^>]+>", "", acts.group(1))
    # Not folded in: the hidden proposal keeps its rank, without its title.
    assert [row[:2] for row in table_rows(page)] == [["1er", "Proposition masquée par la modération"],
                                                     ["2e", "Une fresque murale"]]
    assert "Un jardin partagé" not in page


def test_results_of_a_visitor_without_votes(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, phase="voting", voting_method="majority_judgment")
    proposals_in(session, consultation, ["Un jardin partagé"])
    session.commit()
    page = assert_page(client.get(results_url(consultation)))
    assert re.search(r"\b0 personnes? (a|ont) voté\.", page)
    assert "Aucune mention" in page
