"""Pages of assisted participation: the counter (guichet) where a mediator finds or registers a
resident who is present, verifies their residence and records a proposal, a support or a ballot
for them, and prints a one-time code; the public page where the resident claims the account.

Thin routes: the service checks who may do what (a mediator acts only for residents of their
communes). Every form works without JavaScript (POST, then a redirect)."""

from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session
from starlette.datastructures import FormData

from app.accounts import service as accounts
from app.accounts.deps import CurrentPrincipal, OptionalPrincipal, RateLimiterDep, client_address, limit_writes
from app.accounts.policy import Principal
from app.accounts.sessions import begin_user_session
from app.assisted import service
from app.assisted.schemas import ResidentIn, ResidentSearch, group_claim_code
from app.consultations import service as consultations
from app.consultations.models import Consultation, VotingMethod
from app.core.clock import NowDep
from app.core.db import SessionDep
from app.core.errors import DomainError
from app.core.i18n import N_, ngettext
from app.core.i18n import gettext as _
from app.core.mail import send_mail
from app.core.settings import Settings
from app.core.templating import render
from app.proposals import service as proposals
from app.proposals.routes import ProposalForm
from app.proposals.schemas import BODY_MAX, TITLE_MAX, ProposalDraft
from app.voting import ballots
from app.voting import service as supports
from app.voting.routes import GRADE_NAMES

router = APIRouter(include_in_schema=False)

REGISTER_RATE = "60/hour"  # per mediator
CLAIM_RATE = "10/hour"  # per address: guessing codes stays hopeless
PROPOSALS_PER_PAGE = 20
RESIDENT_FIELDS = {
    "display_name": N_("Le nom affiché doit compter de 2 à 80 caractères."),
    "given_name": N_("Le prénom ne peut pas dépasser 200 caractères."),
    "family_name": N_("Le nom de famille ne peut pas dépasser 200 caractères."),
    "commune": N_("Choisissez la commune de la personne dans la liste."),
    "birth_year": N_("Saisissez une année de naissance valide, par exemple 1985."),
    "terms_accepted": N_("Confirmez que la personne a pris connaissance des conditions d’utilisation et les accepte."),
}

Errors = dict[str, list[str]]


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _flash(request: Request, message: str, kind: str = "success") -> None:
    request.session["flash"] = {"message": message, "kind": kind}


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _translated(errors: dict[str, list[str]]) -> Errors:
    return {name: [_(message) for message in messages] for name, messages in errors.items()}


def _resident_url(user_id: int) -> str:
    return f"/guichet/habitants/{user_id}"


# --- the counter: finding a resident


@router.get("/guichet", response_class=HTMLResponse, name="assisted:counter")
def counter(request: Request, session: SessionDep, principal: CurrentPrincipal,
            nom: Annotated[str, Query(max_length=200)] = "", annee: Annotated[str, Query(max_length=4)] = "",
            commune: Annotated[str, Query(max_length=5)] = "") -> HTMLResponse:
    choices = service.commune_choices(session, principal)
    year = int(annee) if annee.strip().isdigit() else None
    searched = bool(nom.strip())
    results = service.search_residents(session, principal, ResidentSearch(nom, year, commune or None)) \
        if searched else []
    return render(request, "assisted/counter.html", communes=choices, values={"nom": nom, "annee": annee,
                  "commune": commune}, searched=searched, results=results,
                  register_query=urlencode({k: v for k, v in (("nom", nom), ("annee", annee),
                                                              ("commune", commune)) if v}))


# --- registering a resident


def _register_page(request: Request, session: Session, principal: Principal, values: dict[str, str], *,
                   errors: Errors | None = None, duplicates: list[service.ResidentRow] | None = None,
                   status_code: int = 200) -> HTMLResponse:
    return render(request, "assisted/register.html", status_code=status_code, values=values, errors=errors or {},
                  communes=service.commune_choices(session, principal), duplicates=duplicates or [])


@router.get("/guichet/inscrire", response_class=HTMLResponse, name="assisted:register")
def register_page(request: Request, session: SessionDep, principal: CurrentPrincipal,
                  nom: Annotated[str, Query(max_length=200)] = "", annee: Annotated[str, Query(max_length=4)] = "",
                  commune: Annotated[str, Query(max_length=5)] = "") -> HTMLResponse:
    return _register_page(request, session, principal, {"display_name": nom, "birth_year": annee, "commune": commune})


@router.post("/guichet/inscrire", response_class=HTMLResponse)
def register(request: Request, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
             limiter: RateLimiterDep, display_name: Annotated[str, Form(max_length=200)] = "",
             given_name: Annotated[str, Form(max_length=400)] = "",
             family_name: Annotated[str, Form(max_length=400)] = "",
             commune: Annotated[str, Form(max_length=5)] = "", birth_year: Annotated[str, Form(max_length=8)] = "",
             terms_accepted: Annotated[str, Form(max_length=3)] = "",
             confirmed_new: Annotated[str, Form(max_length=3)] = "") -> Response:
    service.counter_communes(principal)  # the counter's own people only, before anything else
    values = {"display_name": display_name, "given_name": given_name, "family_name": family_name,
              "commune": commune, "birth_year": birth_year, "terms_accepted": terms_accepted,
              "confirmed_new": confirmed_new}
    errors: Errors = {}
    try:
        data = ResidentIn(display_name=" ".join(display_name.split()), given_name=given_name.strip() or None,
                          family_name=family_name.strip() or None, commune=commune,
                          birth_year=int(birth_year) if birth_year.strip().isdigit() else 0,
                          terms_accepted=terms_accepted == "yes", confirmed_new=confirmed_new == "yes")
    except ValidationError as error:
        for problem in error.errors():
            name = str(problem["loc"][0]) if problem["loc"] else "display_name"
            errors.setdefault(name, [_(RESIDENT_FIELDS.get(name, RESIDENT_FIELDS["display_name"]))])
        if terms_accepted != "yes":
            errors.setdefault("terms_accepted", [_(RESIDENT_FIELDS["terms_accepted"])])
    if errors:
        ordered = {name: errors[name] for name in RESIDENT_FIELDS if name in errors}
        return _register_page(request, session, principal, values, errors=ordered, status_code=422)
    limiter.hit(REGISTER_RATE, "write", "assisted-register", str(principal.id))
    try:
        user = service.register_resident(session, principal, data, terms_version=_settings(request).terms_version,
                                         now=now)
    except accounts.InvalidInput as error:
        session.rollback()
        return _register_page(request, session, principal, values, errors=_translated(error.errors), status_code=422)
    except service.PossibleDuplicate as duplicate:
        session.rollback()
        return _register_page(request, session, principal, values, errors={"confirmed_new": [_(duplicate.message)]},
                              duplicates=duplicate.rows, status_code=duplicate.status_code)
    session.commit()
    assert user.id is not None
    _flash(request, _("%(name)s est inscrit·e, avec sa résidence vérifiée.", name=user.display_name))
    return _redirect(_resident_url(user.id))


# --- a resident's file


@router.get("/guichet/habitants/{user_id}", response_class=HTMLResponse, name="assisted:resident")
def resident_page(request: Request, user_id: int, session: SessionDep, now: NowDep,
                  principal: CurrentPrincipal) -> HTMLResponse:
    row = service.resident_row(session, principal, user_id)
    return render(request, "assisted/resident.html", row=row, resident=row.user,
                  open=service.open_consultations(session, principal, user_id, now=now),
                  done=service.participation_of(session, principal, user_id))


@router.post("/guichet/habitants/{user_id}/residence", name="assisted:verify")
def verify(request: Request, user_id: int, session: SessionDep, now: NowDep, principal: CurrentPrincipal) -> Response:
    user = service.verify_residence(session, principal, user_id, now=now)
    session.commit()
    _flash(request, _("La résidence de %(name)s est vérifiée.", name=accounts.display_name_of(user)))
    return _redirect(_resident_url(user_id))


def _resident_consultation(session: Session, principal: Principal, user_id: int,
                           slug: str) -> tuple[service.ResidentRow, Principal, Consultation]:
    row = service.resident_row(session, principal, user_id)
    resident = service.resident_principal(session, principal, user_id)
    return row, resident, consultations.get_by_slug(session, slug, principal=resident)


# --- a proposal


def _proposal_page(request: Request, session: Session, row: service.ResidentRow, consultation: Consultation, *,
                   form: ProposalForm, errors: Errors | None = None, refusal: str | None = None,
                   status_code: int = 200) -> HTMLResponse:
    return render(request, "assisted/propose.html", status_code=status_code, row=row, resident=row.user,
                  consultation=consultation, form=form, errors=errors or {}, refusal=refusal,
                  communes=consultations.communes_in_scope(session, consultation),
                  is_budget=consultation.voting_method == VotingMethod.budget, title_max=TITLE_MAX, body_max=BODY_MAX)


@router.get("/guichet/habitants/{user_id}/proposer/{slug}", response_class=HTMLResponse, name="assisted:propose")
def propose_page(request: Request, user_id: int, slug: str, session: SessionDep, now: NowDep,
                 principal: CurrentPrincipal) -> HTMLResponse:
    row, resident, consultation = _resident_consultation(session, principal, user_id, slug)
    try:
        proposals.check_can_submit(session, resident, consultation, now=now)
    except (proposals.PhaseClosed, proposals.NotEligible) as refusal:
        return _proposal_page(request, session, row, consultation, form=ProposalForm(), refusal=_(refusal.message),
                              status_code=refusal.status_code)
    return _proposal_page(request, session, row, consultation, form=ProposalForm(commune=row.user.commune_insee or ""))


@router.post("/guichet/habitants/{user_id}/proposer/{slug}", response_class=HTMLResponse)
def propose(request: Request, user_id: int, slug: str, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
            limiter: RateLimiterDep, title: Annotated[str, Form(max_length=TITLE_MAX * 2)] = "",
            body: Annotated[str, Form(max_length=BODY_MAX * 2)] = "", commune: Annotated[str, Form(max_length=5)] = "",
            estimated_cost: Annotated[str, Form(max_length=30)] = "") -> Response:
    row, resident, consultation = _resident_consultation(session, principal, user_id, slug)
    form = ProposalForm(title, body, commune, estimated_cost)
    draft, errors = form.parse(ProposalDraft)
    try:
        if draft is None:
            raise proposals.InvalidProposal()
        limit_writes(limiter, resident, "proposal")  # the resident's own limit, as online
        proposal = service.record_proposal(session, principal, user_id, consultation, draft, now=now)
    except proposals.InvalidProposal as error:
        session.rollback()
        return _proposal_page(request, session, row, consultation, form=form, status_code=422,
                              errors=errors or {error.field or "title": [_(error.message)]})
    except (proposals.PhaseClosed, proposals.NotEligible) as refusal:
        session.rollback()
        return _proposal_page(request, session, row, consultation, form=form, refusal=_(refusal.message),
                              status_code=refusal.status_code)
    session.commit()
    if proposal.state == "pending":
        _flash(request, _("La proposition « %(title)s » est enregistrée ; elle sera publiée après relecture par "
                          "la modération.", title=proposal.title))
    else:
        _flash(request, _("La proposition « %(title)s » est publiée.", title=proposal.title))
    return _redirect(_resident_url(user_id))


# --- supports


@router.get("/guichet/habitants/{user_id}/soutenir/{slug}", response_class=HTMLResponse, name="assisted:supports")
def supports_page(request: Request, user_id: int, slug: str, session: SessionDep, now: NowDep,
                  principal: CurrentPrincipal, q: Annotated[str, Query(max_length=200)] = "",
                  page: Annotated[int, Query(ge=1, le=10000)] = 1) -> HTMLResponse:
    row, resident, consultation = _resident_consultation(session, principal, user_id, slug)
    if consultation.voting_method != VotingMethod.support:
        raise supports.WrongMethod()
    refusal = service.voting_refusal(session, resident, consultation, now=now)
    listing = proposals.list_proposals(session, consultation, q=q.strip(), state=None, sort="recent",
                                       limit=PROPOSALS_PER_PAGE, offset=(page - 1) * PROPOSALS_PER_PAGE)
    ids = [item.proposal.id or 0 for item in listing.items]
    return render(request, "assisted/supports.html", status_code=refusal.status_code if refusal else 200,
                  row=row, resident=row.user, consultation=consultation, listing=listing, q=q.strip(), page=page,
                  page_count=max(1, -(-listing.total // PROPOSALS_PER_PAGE)),
                  supported=supports.supported_ids(session, resident.id, ids),
                  remaining=supports.remaining_supports(session, consultation, resident.id),
                  refusal=_(refusal.message) if refusal else None)


@router.post("/guichet/habitants/{user_id}/soutenir/{slug}", name="assisted:support")
def support(request: Request, user_id: int, slug: str, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
            limiter: RateLimiterDep, proposal: Annotated[int, Form()], q: Annotated[str, Form(max_length=200)] = "",
            page: Annotated[int, Form(ge=1, le=10000)] = 1,
            action: Annotated[str, Form(max_length=10)] = "add") -> Response:
    _row, _resident, consultation = _resident_consultation(session, principal, user_id, slug)
    back = f"{_resident_url(user_id)}/soutenir/{consultation.slug}?" + urlencode({"q": q, "page": page})
    try:
        limit_writes(limiter, principal, "vote")
        if action == "remove":
            state = service.withdraw_support(session, principal, user_id, proposal, now=now)
        else:
            state = service.record_support(session, principal, user_id, proposal, now=now)
    except (supports.NotEligible, supports.VotingClosed, supports.SupportLimitReached, supports.NotSupportable,
            supports.WrongMethod) as refusal:
        session.rollback()
        _flash(request, _(refusal.message), "error")
        return _redirect(back)
    session.commit()
    message = _("Le soutien est enregistré.") if state.supported else _("Le soutien est retiré.")
    if state.remaining is not None:
        message += " " + ngettext("Il lui reste %(num)d soutien.", "Il lui reste %(num)d soutiens.",
                                  state.remaining) % {"num": state.remaining}
    _flash(request, message)
    return _redirect(back + f"#proposition-{proposal}")


# --- ballots (majority judgment, participatory budget)


async def _form_data(request: Request) -> FormData:
    return await request.form()


FormDataDep = Annotated[FormData, Depends(_form_data)]


def _ballot_page(request: Request, session: Session, row: service.ResidentRow, resident: Principal,
                 consultation: Consultation, now: datetime, *, given: dict[int, str] | None = None,
                 selected: list[int] | None = None, error: str | None = None,
                 status_code: int = 200) -> HTMLResponse:
    refusal = None
    found = service.voting_refusal(session, resident, consultation, now=now)
    if found is not None:
        refusal, status_code = _(found.message), found.status_code
    stored = ballots.get_ballot(session, resident, consultation)
    if given is None:
        given = dict(stored.grades or {}) if stored else {}
    if selected is None:
        selected = list(stored.proposals or []) if stored else []
    return render(request, "assisted/ballot.html", status_code=status_code, row=row, resident=row.user,
                  consultation=consultation, method=consultation.voting_method,
                  proposals=ballots.admitted_proposals(session, consultation),
                  grade_choices=[(key, _(label)) for key, label in GRADE_NAMES.items()], given=given,
                  selected=set(selected), ballot=stored, refusal=refusal, error=error)


@router.get("/guichet/habitants/{user_id}/voter/{slug}", response_class=HTMLResponse, name="assisted:ballot")
def ballot_page(request: Request, user_id: int, slug: str, session: SessionDep, now: NowDep,
                principal: CurrentPrincipal) -> HTMLResponse:
    row, resident, consultation = _resident_consultation(session, principal, user_id, slug)
    if consultation.voting_method not in (VotingMethod.majority_judgment, VotingMethod.budget):
        raise ballots.WrongMethod()
    return _ballot_page(request, session, row, resident, consultation, now)


@router.post("/guichet/habitants/{user_id}/voter/{slug}", response_class=HTMLResponse)
def cast_ballot(request: Request, user_id: int, slug: str, session: SessionDep, now: NowDep,
                principal: CurrentPrincipal, limiter: RateLimiterDep, form: FormDataDep) -> Response:
    row, resident, consultation = _resident_consultation(session, principal, user_id, slug)
    if consultation.voting_method not in (VotingMethod.majority_judgment, VotingMethod.budget):
        raise ballots.WrongMethod()
    admitted = {p.id for p in ballots.admitted_proposals(session, consultation)}
    given: dict[int, str] = {}
    for name, value in form.multi_items():
        key = name.removeprefix("grade-")
        if key != name and key.isdigit() and int(key) in admitted and isinstance(value, str):
            given[int(key)] = value
    selected = [int(v) for v in form.getlist("proposal") if isinstance(v, str) and v.isdigit() and int(v) in admitted]
    is_budget = consultation.voting_method == VotingMethod.budget
    try:
        limit_writes(limiter, principal, "vote")
        service.record_ballot(session, principal, user_id, consultation, grades=None if is_budget else given,
                              proposal_ids=selected if is_budget else None, now=now)
    except (ballots.InvalidBallot, ballots.OverBudget, ballots.VotingClosed, ballots.NotEligible) as error:
        session.rollback()
        return _ballot_page(request, session, row, resident, consultation, now, given=given, selected=selected,
                            error=_(error.message), status_code=error.status_code)
    session.commit()
    _flash(request, _("Le vote de %(name)s est enregistré.", name=accounts.display_name_of(row.user)))
    return _redirect(_resident_url(user_id))


# --- the claim code, printed for the resident


@router.post("/guichet/habitants/{user_id}/code", response_class=HTMLResponse, name="assisted:claim_code")
def claim_code(request: Request, user_id: int, session: SessionDep, now: NowDep,
               principal: CurrentPrincipal) -> Response:
    user, code, expires_at = service.issue_claim_code(session, principal, user_id, now=now)
    session.commit()
    # Shown once, on this answer only: never stored in clear, never put in an address.
    response = render(request, "assisted/claim_code.html", resident=user, code=group_claim_code(code),
                      expires_at=expires_at, claim_url=_settings(request).base_url.rstrip("/") + "/compte/reclamer")
    response.headers["Cache-Control"] = "no-store"
    return response


# --- claiming the account (public)


def _claim_page(request: Request, values: dict[str, str], *, errors: Errors | None = None,
                status_code: int = 200) -> HTMLResponse:
    return render(request, "assisted/claim.html", status_code=status_code, values=values, errors=errors or {})


@router.get("/compte/reclamer", response_class=HTMLResponse, name="assisted:claim")
def claim_page(request: Request, principal: OptionalPrincipal) -> Response:
    return _claim_page(request, {"code": "", "email": ""})


@router.post("/compte/reclamer", response_class=HTMLResponse)
def claim(request: Request, session: SessionDep, now: NowDep, limiter: RateLimiterDep,
          code: Annotated[str, Form(max_length=40)] = "", email: Annotated[str, Form(max_length=254)] = "",
          password: Annotated[str, Form(max_length=1024)] = "") -> Response:
    settings = _settings(request)
    if not settings.local_accounts_enabled:
        raise DomainError(_("La connexion par adresse électronique n’est pas proposée ici."))
    limiter.hit(CLAIM_RATE, "claim", client_address(request))
    values = {"code": code, "email": email}
    try:
        user, confirmation = service.claim_account(session, code=code, email=email, password=password, now=now)
    except accounts.InvalidInput as error:
        session.rollback()
        return _claim_page(request, values, errors=_translated(error.errors), status_code=422)
    except service.InvalidClaimCode as error:
        session.rollback()
        return _claim_page(request, values, errors={"code": [_(error.message)]}, status_code=error.status_code)
    session.commit()
    assert user.id is not None
    assert user.email is not None
    link = settings.base_url.rstrip("/") + "/inscription/confirmer?" + urlencode({"jeton": confirmation})
    send_mail(settings, to=user.email, subject=_("Confirmez votre adresse électronique"), body=_(
        "Bonjour,\n\nVotre compte Carreau est maintenant à vous. Pour pouvoir vous reconnecter avec votre adresse "
        "et votre mot de passe, confirmez cette adresse en ouvrant ce lien (valable 48 heures) :\n%(link)s\n\n"
        "Si vous n’avez rien demandé, ignorez ce message.", link=link))
    begin_user_session(request, user.id)
    request.session["name"] = accounts.display_name_of(user)
    _flash(request, _("Votre compte est à vous. Confirmez votre adresse électronique avec le lien que nous venons "
                      "de vous envoyer : vous pourrez ensuite vous reconnecter avec votre mot de passe."))
    return _redirect("/compte")
