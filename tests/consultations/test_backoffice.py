"""The consultations' back office: the service's acts (phase dates checked, publish, archive,
duplicate, close a phase early), the pages under /gestion/consultations and the API's publish and
archive. Each act is allowed to the moderators of the consultation's axis (or of the consultation)
and to admins only, and leaves its audit entry; an evaluator reads nothing there and changes nothing;
a refused form comes back with what was typed and the errors by the fields."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import Role, User
from app.accounts.policy import Principal
from app.audit import service as audit
from app.consultations import service
from app.consultations.models import Consultation, Phase
from app.consultations.schemas import ConsultationIn, ConsultationPatch, PhasesIn, ScopeIn
from app.core.errors import Forbidden
from app.territory.models import Axis
from tests.factories import NOW, bearer, make_consultation, make_proposal, make_user
from tests.participation import post, sign_in
from tests.support import assert_page, problem

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
LENS_LIEVIN = "246200364"


@pytest.fixture(autouse=True)
def _frozen_clock(app: FastAPI) -> None:
    app.state.clock = lambda: NOW


def axis(session: Session, number: int) -> Axis:
    return session.exec(select(Axis).where(Axis.number == number)).one()


def person(session: Session, role: Role | None = None, *, axis_number: int | None = None,
           consultation: Consultation | None = None) -> User:
    user = make_user(session)
    if role is not None:
        accounts.grant_role(session, user, role, now=NOW,
                            axis_id=axis(session, axis_number).id if axis_number else None,
                            consultation_id=consultation.id if consultation else None)
    return user


def principal_of(session: Session, user: User) -> Principal:
    return accounts.load_principal(session, user)


def moderator_of(session: Session, number: int = 1) -> Principal:
    return principal_of(session, person(session, Role.moderator, axis_number=number))


def actions_on(session: Session, consultation: Consultation) -> list[str]:
    return [entry.action for entry in audit.entries_for(session, target_type="consultation",
                                                        target_id=consultation.id)]


def starts(first: datetime, *lengths_in_days: float) -> dict[str, dict[str, Any]]:
    """Phase starts from `first`, each phase lasting the given number of days."""
    names = ("information", "proposals", "voting", "results", "follow_up")
    moments, moment = [], first
    for index in range(5):
        moments.append(moment)
        if index < len(lengths_in_days):
            moment = moment + timedelta(days=lengths_in_days[index])
    return {name: {"start": value} for name, value in zip(names, moments, strict=True)}


def new_data(**fields: Any) -> ConsultationIn:
    values: dict[str, Any] = {
        "title": "Les cités minières de demain", "summary": "Comment rénover les cités minières ?", "axis": 1,
        "scope": ScopeIn(kind="basin"), "phases": PhasesIn.model_validate(starts(NOW + 10 * DAY, 7, 14, 14, 7)),
    }
    return ConsultationIn.model_validate(values | fields)


# --- phase dates, checked by the service


@pytest.mark.parametrize(("lengths", "field"), [
    ((7, 0, 14, 7), "voting_starts_at"),  # no time to propose
    ((7, 14, 0, 7), "results_starts_at"),  # no time to vote
])
def test_the_proposals_and_voting_phases_must_last(session: Session, lengths: tuple[int, ...], field: str) -> None:
    with pytest.raises(service.InvalidConsultation) as refused:
        service.create(session, moderator_of(session), new_data(
            phases=PhasesIn.model_validate(starts(NOW + DAY, *lengths))), now=NOW)
    assert refused.value.field == field


def test_information_and_results_may_be_empty(session: Session) -> None:
    consultation = service.create(session, moderator_of(session), new_data(
        phases=PhasesIn.model_validate(starts(NOW + DAY, 0, 14, 14, 0))), now=NOW)
    assert consultation.information_starts_at == consultation.proposals_starts_at
    assert consultation.results_starts_at == consultation.follow_up_starts_at


def test_phases_in_order_and_a_follow_up_ending_after_it_starts() -> None:
    first = NOW + DAY
    dates = {phase: first + index * 7 * DAY for index, phase in enumerate(service.PHASES_IN_ORDER)}
    service.check_phases(dates, None)
    with pytest.raises(service.InvalidConsultation) as refused:
        service.check_phases(dates | {Phase.results: dates[Phase.voting] - HOUR}, None)
    assert refused.value.field == "results_starts_at"
    for end in (dates[Phase.follow_up], dates[Phase.follow_up] - DAY):
        with pytest.raises(service.InvalidConsultation) as refused:
            service.check_phases(dates, end)
        assert refused.value.field == "follow_up_ends_at"


def test_pre_moderation_is_chosen_at_creation_and_changed_later(session: Session) -> None:
    moderator = moderator_of(session)
    consultation = service.create(session, moderator, new_data(is_premoderated=True), now=NOW)
    assert consultation.is_premoderated
    service.update(session, moderator, consultation, ConsultationPatch(is_premoderated=False), now=NOW)
    assert not consultation.is_premoderated


# --- publish, archive


def test_publishing_a_draft_is_audited(session: Session) -> None:
    consultation = make_consultation(session, phase="proposals", status="draft")
    moderator = moderator_of(session)
    service.publish(session, moderator, consultation, now=NOW)
    assert consultation.status == "published"
    entry = audit.entries_for(session, target_type="consultation", target_id=consultation.id)[-1]
    assert (entry.action, entry.actor_id) == ("consultation.published", moderator.id)
    assert (entry.before or {})["status"] == "draft"
    assert (entry.after or {})["status"] == "published"
    with pytest.raises(service.WrongStatus):
        service.publish(session, moderator, consultation, now=NOW)


def test_archiving_keeps_the_consultation_readable_and_closes_it(session: Session) -> None:
    consultation = make_consultation(session, phase="voting")
    moderator = moderator_of(session)
    service.archive(session, moderator, consultation, now=NOW)
    assert consultation.status == "archived"
    assert actions_on(session, consultation) == ["consultation.archived"]
    assert service.get(session, consultation.id or 0) is consultation  # still readable by anyone
    listed = service.list_published(session, now=NOW, axis_id=consultation.axis_id).items
    assert consultation in listed
    with pytest.raises(service.WrongStatus):
        service.archive(session, moderator, consultation, now=NOW)


def test_a_draft_is_never_archived(session: Session) -> None:
    draft = make_consultation(session, status="draft")
    with pytest.raises(service.WrongStatus):
        service.archive(session, moderator_of(session), draft, now=NOW)
    assert draft.status == "draft"
    assert actions_on(session, draft) == []


# --- duplicate


def test_a_copy_is_a_new_draft_with_the_same_texts_and_rules(session: Session) -> None:
    original = make_consultation(session, phase="voting", scope_kind="epci", scope_code=LENS_LIEVIN, max_supports=3,
                                 min_age=16, is_premoderated=True, body="## Le contexte", voting_method="support")
    make_proposal(session, original, make_user(session))
    moderator = moderator_of(session)
    copy = service.duplicate(session, moderator, original, now=NOW)
    assert copy.id != original.id
    assert copy.slug != original.slug
    assert copy.title == f"{original.title} (copie)"
    assert copy.status == "draft"
    assert copy.first_vote_at is None
    for name in ("summary", "body", "axis_id", "scope_kind", "scope_code", "voting_method", "max_supports",
                 "min_age", "required_verification", "is_premoderated"):
        assert getattr(copy, name) == getattr(original, name), name
    assert actions_on(session, copy) == ["consultation.duplicated"]
    entry = audit.entries_for(session, target_type="consultation", target_id=copy.id)[0]
    assert (entry.after or {})["copied_from"] == original.id


def test_a_copy_of_a_past_consultation_moves_forward_by_whole_weeks(session: Session) -> None:
    original = make_consultation(session, phase="voting", follow_up_ends_at=NOW + 60 * DAY)
    copy = service.duplicate(session, moderator_of(session), original, now=NOW)
    shift = copy.information_starts_at - original.information_starts_at
    assert copy.information_starts_at >= NOW + 7 * DAY
    assert copy.information_starts_at - 7 * DAY < NOW + 7 * DAY  # the first week that fits
    assert shift.days % 7 == 0
    assert shift.seconds in (0, 3600, 82800)
    paris = service.PARIS
    for name in ("information_starts_at", "proposals_starts_at", "voting_starts_at", "results_starts_at",
                 "follow_up_starts_at", "follow_up_ends_at"):
        assert getattr(copy, name).astimezone(paris).time() == getattr(original, name).astimezone(paris).time()
        assert getattr(copy, name).astimezone(paris).weekday() == getattr(original, name).astimezone(paris).weekday()


def test_a_copy_of_a_future_consultation_keeps_its_dates(session: Session) -> None:
    original = service.create(session, moderator_of(session), new_data(
        phases=PhasesIn.model_validate(starts(NOW + 30 * DAY, 7, 14, 14, 7))), now=NOW)
    copy = service.duplicate(session, moderator_of(session), original, now=NOW)
    assert copy.phase_starts() == original.phase_starts()


# --- close a phase early


def test_closing_the_running_phase_starts_the_next_now(session: Session) -> None:
    consultation = make_consultation(session, phase="proposals")
    planned = consultation.voting_starts_at
    moderator = moderator_of(session)
    service.close_phase_early(session, moderator, consultation, phase=Phase.proposals, now=NOW)
    assert consultation.voting_starts_at == NOW
    assert service.current_phase(consultation, NOW) == Phase.voting
    entry = audit.entries_for(session, target_type="consultation", target_id=consultation.id)[-1]
    assert entry.action == "consultation.phase_closed"
    assert datetime.fromisoformat((entry.before or {})["voting_starts_at"]) == planned
    assert datetime.fromisoformat((entry.after or {})["voting_starts_at"]) == NOW
    assert (entry.after or {})["closed_phase"] == "proposals"


def test_closing_the_follow_up_sets_its_end(session: Session) -> None:
    consultation = make_consultation(session, phase="follow_up")
    service.close_phase_early(session, moderator_of(session), consultation, phase=Phase.follow_up, now=NOW)
    assert consultation.follow_up_ends_at == NOW
    assert service.current_phase(consultation, NOW) == Phase.closed


def test_closing_a_phase_is_refused_when_it_would_break_the_calendar(session: Session) -> None:
    moderator = moderator_of(session)
    not_running = make_consultation(session, phase="voting")
    with pytest.raises(service.CannotClosePhase):  # the page showed another phase: the clock moved on
        service.close_phase_early(session, moderator, not_running, phase=Phase.proposals, now=NOW)
    upcoming = make_consultation(session, phase="information", now=NOW + 6 * DAY)  # starts tomorrow
    assert service.current_phase(upcoming, NOW) == Phase.upcoming
    assert service.closable_phase(upcoming, NOW) is None
    just_opened = make_consultation(session, phase="proposals", now=NOW + 5 * DAY)  # opened right now
    assert just_opened.proposals_starts_at == NOW
    with pytest.raises(service.CannotClosePhase):  # the proposals phase would last no time at all
        service.close_phase_early(session, moderator, just_opened, phase=Phase.proposals, now=NOW)
    draft = make_consultation(session, phase="proposals", status="draft")
    with pytest.raises(service.CannotClosePhase):
        service.close_phase_early(session, moderator, draft, phase=Phase.proposals, now=NOW)
    assert all(actions_on(session, c) == [] for c in (not_running, upcoming, just_opened, draft))


# --- who may do what


def test_a_moderator_of_another_axis_touches_nothing(session: Session) -> None:
    draft = make_consultation(session, phase="proposals", status="draft", axis_number=1)
    published = make_consultation(session, phase="proposals", axis_number=1)
    other = moderator_of(session, 2)
    for act in (lambda: service.publish(session, other, draft, now=NOW),
                lambda: service.archive(session, other, published, now=NOW),
                lambda: service.duplicate(session, other, published, now=NOW),
                lambda: service.close_phase_early(session, other, published, phase=Phase.proposals, now=NOW),
                lambda: service.get_managed(session, other, published.id or 0),
                lambda: service.get_managed(session, other, draft.id or 0),
                lambda: service.create(session, other, new_data(axis=1), now=NOW)):
        with pytest.raises(Forbidden):
            act()
    assert (draft.status, published.status) == ("draft", "published")
    assert actions_on(session, draft) == actions_on(session, published) == []


def test_a_moderator_of_one_consultation_manages_it_but_creates_nothing(session: Session) -> None:
    mine = make_consultation(session, phase="proposals", status="draft", axis_number=3)
    neighbour = make_consultation(session, phase="proposals", status="draft", axis_number=3)
    moderator = principal_of(session, person(session, Role.moderator, consultation=mine))
    assert service.list_managed(session, moderator).items == [mine]
    service.publish(session, moderator, mine, now=NOW)
    with pytest.raises(Forbidden):
        service.publish(session, moderator, neighbour, now=NOW)
    assert service.axes_for_new_consultations(session, moderator) == []
    with pytest.raises(Forbidden):
        service.create(session, moderator, new_data(axis=3), now=NOW)


def test_each_one_lists_what_they_manage(session: Session) -> None:
    first = make_consultation(session, status="draft", axis_number=1)
    second = make_consultation(session, status="published", axis_number=2)
    archived = make_consultation(session, status="archived", axis_number=1)
    ids = {first.id, second.id, archived.id}
    axis_one = service.list_managed(session, moderator_of(session, 1)).items
    assert {c.id for c in axis_one} & ids == {first.id, archived.id}
    admin = principal_of(session, person(session, Role.admin))
    assert {c.id for c in service.list_managed(session, admin).items} >= ids
    drafts = service.list_managed(session, admin, status="draft").items
    assert first in drafts
    assert archived not in drafts
    assert second not in service.list_managed(session, admin, axis_id=axis(session, 1).id).items
    assert [a.number for a in service.axes_for_new_consultations(session, moderator_of(session, 1))] == [1]
    assert len(service.axes_for_new_consultations(session, admin)) == 16


@pytest.mark.parametrize("role", [Role.evaluator, Role.mediator, None])
def test_evaluators_mediators_and_residents_stay_out(session: Session, role: Role | None) -> None:
    user = person(session, role) if role != Role.mediator else make_user(session)
    if role == Role.mediator:
        accounts.grant_role(session, user, Role.mediator, now=NOW, commune_insee="62510")
    outsider = principal_of(session, user)
    published = make_consultation(session, phase="proposals")
    draft = make_consultation(session, phase="proposals", status="draft")
    with pytest.raises(Forbidden):
        service.list_managed(session, outsider)
    with pytest.raises(Forbidden):
        service.get_managed(session, outsider, published.id or 0)
    with pytest.raises(service.ConsultationNotFound):  # a draft stays unknown outside the back office
        service.get_managed(session, outsider, draft.id or 0)
    with pytest.raises(Forbidden):
        service.archive(session, outsider, published, now=NOW)
    with pytest.raises(Forbidden):
        service.publish(session, outsider, draft, now=NOW)
    assert actions_on(session, published) == actions_on(session, draft) == []


# --- pages


FORM = {
    "title": "Des jardins partagés dans les cités", "summary": "Où créer des jardins partagés ?",
    "body": "## Le contexte\n\nLes cités minières ont **des jardins**.", "easy_read_summary": "On crée des jardins.",
    "easy_read_rules": "", "axis": "1", "scope_kind": "epci", "scope_epci": LENS_LIEVIN, "scope_commune": "",
    "information_starts_at": "2027-03-10T09:00", "proposals_starts_at": "2027-03-17T09:00",
    "voting_starts_at": "2027-04-07T09:00", "results_starts_at": "2027-04-28T18:00",
    "follow_up_starts_at": "2027-05-05T09:00", "follow_up_ends_at": "", "voting_method": "support",
    "max_supports": "3", "min_age": "16", "required_verification": "declared", "results_hidden_until_end": "on",
    "budget_total": "", "is_premoderated": "yes",
}


def signed_in(client: TestClient, app: FastAPI, user: User) -> TestClient:
    sign_in(client, app, user)
    return client


def field_html(text: str, name: str) -> str:
    """The markup of one field: from its label to the next field."""
    start = text.index(f'for="field-{name}"')
    following = text.find('class="cr-field', start)
    return text[start: following if following != -1 else None]


def test_the_back_office_needs_a_moderator_or_an_admin(client: TestClient, app: FastAPI, session: Session) -> None:
    anonymous = client.get("/gestion/consultations", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/connexion")
    signed_in(client, app, person(session, Role.evaluator))
    published = make_consultation(session, phase="proposals")
    draft = make_consultation(session, status="draft")
    for path in ("/gestion/consultations", "/gestion/consultations/nouvelle",
                 f"/gestion/consultations/{published.id}", f"/gestion/consultations/{published.id}/modifier",
                 f"/gestion/consultations/{published.id}/apercu", f"/gestion/consultations/{published.id}/archiver"):
        assert client.get(path).status_code == 403, path
    assert client.get(f"/gestion/consultations/{draft.id}/modifier").status_code == 404
    for path in (f"/gestion/consultations/{draft.id}/publier", f"/gestion/consultations/{published.id}/archiver",
                 f"/gestion/consultations/{published.id}/dupliquer",
                 f"/gestion/consultations/{published.id}/clore-la-phase"):
        assert post(client, path, {"phase": "proposals"}).status_code in (403, 404), path
    assert post(client, f"/gestion/consultations/{published.id}/modifier", FORM).status_code == 403
    assert post(client, "/gestion/consultations/nouvelle", FORM).status_code == 403
    assert (draft.status, published.status) == ("draft", "published")
    assert actions_on(session, draft) == actions_on(session, published) == []


def test_the_list_shows_drafts_published_and_archived_of_ones_axes(client: TestClient, app: FastAPI,
                                                                  session: Session) -> None:
    draft = make_consultation(session, status="draft", axis_number=1)
    archived = make_consultation(session, status="archived", axis_number=1)
    elsewhere = make_consultation(session, status="draft", axis_number=2)
    signed_in(client, app, person(session, Role.moderator, axis_number=1))
    text = assert_page(client.get("/gestion/consultations"))
    assert f">{draft.title}<" in text
    assert f">{archived.title}<" in text
    assert f">{elsewhere.title}<" not in text
    assert 'href="/gestion/consultations/nouvelle"' in text
    drafts = assert_page(client.get("/gestion/consultations?status=draft"))
    assert f">{draft.title}<" in drafts
    assert f">{archived.title}<" not in drafts
    assert assert_page(client.get("/gestion/consultations?status=nimporte")).count("<tr>") >= 3  # unknown: all
    assert client.get(f"/gestion/consultations/{elsewhere.id}").status_code == 403


def test_a_moderator_creates_a_draft_with_the_form(client: TestClient, app: FastAPI, session: Session) -> None:
    moderator = person(session, Role.moderator, axis_number=1)
    signed_in(client, app, moderator)
    form = assert_page(client.get("/gestion/consultations/nouvelle"))
    assert 'name="csrf_token"' in form
    assert 'type="datetime-local"' in form
    response = post(client, "/gestion/consultations/nouvelle", FORM)
    assert response.status_code == 303, response.text[:2000]
    consultation = session.exec(select(Consultation).where(Consultation.title == FORM["title"])).one()
    assert response.headers["location"] == f"/gestion/consultations/{consultation.id}"
    assert consultation.status == "draft"
    assert (consultation.scope_kind, consultation.scope_code) == ("epci", LENS_LIEVIN)
    assert consultation.information_starts_at == datetime(2027, 3, 10, 8, 0, tzinfo=UTC)  # 9:00 in Paris (CET)
    assert consultation.voting_starts_at == datetime(2027, 4, 7, 7, 0, tzinfo=UTC)  # 9:00 in Paris (CEST)
    assert (consultation.max_supports, consultation.min_age) == (3, 16)
    assert consultation.results_hidden_until_end
    assert consultation.is_premoderated
    assert consultation.easy_read_summary == "On crée des jardins."
    assert consultation.easy_read_rules is None
    assert consultation.created_by_id == moderator.id
    assert actions_on(session, consultation) == ["consultation.created"]
    page = assert_page(client.get(response.headers["location"]))
    assert "Brouillon" in page
    assert "Publier" in page
    assert "Création" in page
    assert client.get(f"/consultations/{consultation.slug}").status_code == 200  # its moderator sees the draft
    client.cookies.clear()
    assert client.get(f"/consultations/{consultation.slug}").status_code == 404


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"voting_starts_at": "2027-03-15T09:00"}, "voting_starts_at", "Les phases doivent se suivre"),
    ({"results_starts_at": "2027-04-07T09:00"}, "results_starts_at", "La phase de vote doit durer"),
    ({"follow_up_ends_at": "2027-05-01T09:00"}, "follow_up_ends_at", "La fin du suivi doit venir après son début"),
    ({"proposals_starts_at": "demain"}, "proposals_starts_at", "Indiquez la date et l’heure du début des propositions"),
    ({"title": "Jar"}, "title", "Le titre doit compter entre 5 et 200 caractères"),
    ({"voting_method": "budget"}, "budget_total", "Un budget participatif a besoin d’un budget total"),
    ({"max_supports": "trois"}, "max_supports", "Indiquez un nombre entier"),
    ({"scope_epci": ""}, "scope_epci", "Choisissez une intercommunalité"),
    ({"axis": "2"}, "axis", "Seuls les modérateurs"),
])
def test_a_refused_form_comes_back_with_what_was_typed(client: TestClient, app: FastAPI, session: Session,
                                                       changes: dict[str, str], field: str, message: str) -> None:
    signed_in(client, app, person(session, Role.moderator, axis_number=1))
    sent = FORM | changes
    response = post(client, "/gestion/consultations/nouvelle", sent)
    if field == "axis":  # another axis: a refusal of the service, not of a field
        assert response.status_code == 403
        return
    text = assert_page(response, 422)
    assert "Erreur — " in text
    assert 'id="error-summary"' in text
    part = field_html(text, field)
    assert 'aria-invalid="true"' in part
    assert message.replace("’", "&#39;") in part or message in part, part
    for name in ("title", "information_starts_at", "proposals_starts_at", "max_supports"):
        assert f'value="{sent[name]}"' in field_html(text, name)
    assert sent["body"].replace("\n", "\n") in text.replace("&#39;", "'")
    assert 'value="yes" checked' in text  # pre-moderation kept
    assert session.exec(select(Consultation).where(Consultation.title == sent["title"])).first() is None


def test_editing_keeps_the_axis_and_is_audited(client: TestClient, app: FastAPI, session: Session) -> None:
    consultation = make_consultation(session, phase="proposals", status="draft", axis_number=1)
    signed_in(client, app, person(session, Role.moderator, axis_number=1))
    form = assert_page(client.get(f"/gestion/consultations/{consultation.id}/modifier"))
    assert f'value="{consultation.title}"' in form
    sent = FORM | {"title": "Un nouveau titre bien clair", "axis": "2", "scope_kind": "basin", "scope_epci": ""}
    response = post(client, f"/gestion/consultations/{consultation.id}/modifier", sent)
    assert response.status_code == 303, response.text[:2000]
    session.refresh(consultation)
    assert consultation.title == "Un nouveau titre bien clair"
    assert consultation.axis_id == axis(session, 1).id
    entry = audit.entries_for(session, target_type="consultation", target_id=consultation.id)[-1]
    assert entry.action == "consultation.updated"
    assert (entry.before or {})["title"] != (entry.after or {})["title"]
    refused = post(client, f"/gestion/consultations/{consultation.id}/modifier", sent | {"summary": "court"})
    text = assert_page(refused, 422)
    assert 'value="Un nouveau titre bien clair"' in text
    assert "court</textarea>" in text


def test_frozen_rules_are_refused_by_the_field(client: TestClient, app: FastAPI, session: Session) -> None:
    consultation = make_consultation(session, phase="voting", axis_number=1, first_vote_at=NOW - DAY)
    signed_in(client, app, person(session, Role.moderator, axis_number=1))
    form = client.get(f"/gestion/consultations/{consultation.id}/modifier").text
    values = dict(re.findall(r'name="([a-z_]+)" type="[a-z-]+" value="([^"]*)"', form))
    sent = FORM | {k: v for k, v in values.items() if k in FORM} | {
        "scope_kind": "basin", "scope_epci": "", "max_supports": "5", "min_age": "",
        "results_hidden_until_end": "", "is_premoderated": "no"}
    text = assert_page(post(client, f"/gestion/consultations/{consultation.id}/modifier", sent), 422)
    assert "Le vote a commencé" in text
    session.refresh(consultation)
    assert consultation.max_supports == 0


def test_preview_publish_and_the_axis_page(client: TestClient, app: FastAPI, session: Session) -> None:
    draft = make_consultation(session, phase="proposals", status="draft", axis_number=1,
                              body="Un **texte** de présentation.", easy_read_summary="Des mots simples.")
    signed_in(client, app, person(session, Role.moderator, axis_number=1))
    preview = assert_page(client.get(f"/gestion/consultations/{draft.id}/apercu"))
    assert "<title>Aperçu — " in preview
    assert "Aperçu : la page publique" in preview
    assert "<strong>texte</strong>" in preview
    assert 'id="propositions"' not in preview
    easy = assert_page(client.get(f"/gestion/consultations/{draft.id}/apercu?version=facile"))
    assert "Des mots simples." in easy
    axis_page = f"/axes/{axis(session, 1).slug}"
    assert draft.title not in client.get(axis_page).text
    response = post(client, f"/gestion/consultations/{draft.id}/publier", {})
    assert response.status_code == 303
    assert actions_on(session, draft) == ["consultation.published"]
    client.cookies.clear()
    assert draft.title in client.get(axis_page).text


def test_duplicate_archive_and_close_a_phase_from_the_pages(client: TestClient, app: FastAPI,
                                                            session: Session) -> None:
    consultation = make_consultation(session, phase="proposals", axis_number=1)
    signed_in(client, app, person(session, Role.moderator, axis_number=1))
    page = assert_page(client.get(f"/gestion/consultations/{consultation.id}"))
    assert "Clore la phase « Propositions » maintenant" in page
    assert "Archiver" in page
    copied = post(client, f"/gestion/consultations/{consultation.id}/dupliquer", {})
    assert copied.status_code == 303
    copy = session.exec(select(Consultation).where(Consultation.title == f"{consultation.title} (copie)")).one()
    assert copied.headers["location"] == f"/gestion/consultations/{copy.id}"
    confirm = assert_page(client.get(f"/gestion/consultations/{consultation.id}/clore-la-phase"))
    assert 'name="phase" value="proposals"' in confirm
    assert post(client, f"/gestion/consultations/{consultation.id}/clore-la-phase",
                {"phase": "proposals"}).status_code == 303
    session.refresh(consultation)
    assert consultation.voting_starts_at == NOW
    again = post(client, f"/gestion/consultations/{consultation.id}/clore-la-phase", {"phase": "proposals"})
    assert again.status_code == 409  # the proposals phase is over now
    assert_page(client.get(f"/gestion/consultations/{consultation.id}/archiver"))
    assert post(client, f"/gestion/consultations/{consultation.id}/archiver", {}).status_code == 303
    session.refresh(consultation)
    assert consultation.status == "archived"
    assert actions_on(session, consultation) == ["consultation.phase_closed", "consultation.archived"]
    history = assert_page(client.get(f"/gestion/consultations/{consultation.id}"))
    assert "Phase close en avance" in history
    assert "Archivage" in history


# --- API


def test_the_api_publishes_and_archives(client: TestClient, session: Session) -> None:
    draft = make_consultation(session, phase="proposals", status="draft", axis_number=1)
    user = person(session, Role.moderator, axis_number=1)
    headers = bearer(session, user)
    published = client.post(f"/api/v1/consultations/{draft.id}/publish", headers=headers)
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published"
    problem(client.post(f"/api/v1/consultations/{draft.id}/publish", headers=headers), 409, "/problems/wrong-status")
    archived = client.post(f"/api/v1/consultations/{draft.id}/archive", headers=headers)
    assert archived.status_code == 200
    assert archived.json()["status"] == "archived"
    problem(client.post(f"/api/v1/consultations/{draft.id}/archive", headers=headers), 409, "/problems/wrong-status")
    entries = audit.entries_for(session, target_type="consultation", target_id=draft.id)
    assert [(e.action, e.actor_id) for e in entries] == [("consultation.published", user.id),
                                                          ("consultation.archived", user.id)]


def test_the_api_refuses_others(client: TestClient, session: Session) -> None:
    draft = make_consultation(session, phase="proposals", status="draft", axis_number=1)
    published = make_consultation(session, phase="proposals", axis_number=1)
    other_axis = bearer(session, person(session, Role.moderator, axis_number=2))
    problem(client.post(f"/api/v1/consultations/{draft.id}/publish", headers=other_axis), 403)
    problem(client.post(f"/api/v1/consultations/{published.id}/archive", headers=other_axis), 403)
    evaluator = bearer(session, person(session, Role.evaluator))
    problem(client.post(f"/api/v1/consultations/{published.id}/archive", headers=evaluator), 403)
    problem(client.post(f"/api/v1/consultations/{draft.id}/publish", headers=evaluator), 404)
    problem(client.post(f"/api/v1/consultations/{published.id}/archive"), 401)
    problem(client.post("/api/v1/consultations/999999/archive", headers=other_axis), 404)
    admin = bearer(session, person(session, Role.admin))
    problem(client.post(f"/api/v1/consultations/{draft.id}/archive", headers=admin), 409, "/problems/wrong-status")
    assert client.post(f"/api/v1/consultations/{draft.id}/publish", headers=admin).status_code == 200
    assert actions_on(session, published) == []
    assert actions_on(session, draft) == ["consultation.published"]


def test_saving_the_form_unchanged_keeps_the_exact_dates(client: TestClient, app: FastAPI, session: Session) -> None:
    consultation = make_consultation(session, phase="proposals", now=NOW + timedelta(seconds=37))
    planned = consultation.phase_starts()
    signed_in(client, app, person(session, Role.moderator, axis_number=1))
    form = client.get(f"/gestion/consultations/{consultation.id}/modifier").text
    dates = dict(re.findall(r'name="([a-z_]+_at)" type="datetime-local" value="([^"]*)"', form))
    assert len(dates["voting_starts_at"]) == len("2027-03-01T13:00")  # minutes only, no seconds shown
    sent = FORM | dates | {"scope_kind": "basin", "scope_epci": "", "title": consultation.title}
    assert post(client, f"/gestion/consultations/{consultation.id}/modifier", sent).status_code == 303
    session.refresh(consultation)
    assert consultation.phase_starts() == planned


def test_a_moderator_of_another_axis_is_refused_on_every_page(client: TestClient, app: FastAPI,
                                                               session: Session) -> None:
    draft = make_consultation(session, phase="proposals", status="draft", axis_number=1)
    published = make_consultation(session, phase="proposals", axis_number=1)
    signed_in(client, app, person(session, Role.moderator, axis_number=2))
    for path in (f"/gestion/consultations/{draft.id}", f"/gestion/consultations/{draft.id}/modifier",
                 f"/gestion/consultations/{draft.id}/apercu", f"/gestion/consultations/{published.id}/archiver",
                 f"/gestion/consultations/{published.id}/clore-la-phase"):
        assert client.get(path).status_code == 403, path
    for path, data in ((f"/gestion/consultations/{draft.id}/publier", {}),
                       (f"/gestion/consultations/{draft.id}/modifier", FORM),
                       (f"/gestion/consultations/{published.id}/dupliquer", {}),
                       (f"/gestion/consultations/{published.id}/archiver", {}),
                       (f"/gestion/consultations/{published.id}/clore-la-phase", {"phase": "proposals"})):
        assert post(client, path, data).status_code == 403, path
    session.refresh(draft)
    session.refresh(published)
    assert (draft.status, published.status, published.voting_starts_at) == (
        "draft", "published", make_consultation(session, phase="proposals").voting_starts_at)
    assert actions_on(session, draft) == actions_on(session, published) == []


def test_dates_typed_the_french_way_are_understood(client: TestClient, app: FastAPI, session: Session) -> None:
    """A browser without a date picker shows a text box: 10/03/2027 9h00 is what people type."""
    signed_in(client, app, person(session, Role.moderator, axis_number=1))
    sent = FORM | {"information_starts_at": "10/03/2027 9h00", "proposals_starts_at": "17/03/2027"}
    assert post(client, "/gestion/consultations/nouvelle", sent).status_code == 303
    consultation = session.exec(select(Consultation).where(Consultation.title == FORM["title"])).one()
    assert consultation.information_starts_at == datetime(2027, 3, 10, 8, 0, tzinfo=UTC)
    assert consultation.proposals_starts_at == datetime(2027, 3, 16, 23, 0, tzinfo=UTC)  # midnight in Paris
