"""Downloads of exports: the consultation export API and the evaluators' download pages.

Both check the asker on every request (session cookie or bearer token): evaluators of the
consultation's scope, its moderators, admins. The pages hand out download links signed for the
signed-in person (their id is in the link and in the signature, with an expiry): another person
replaying such a link is refused, even one who could export the same file from their own page.

Files are streamed: the route decides what goes in (permissions, hidden results), then a
generator with its own database session writes rows as the client reads them."""

import hashlib
import hmac
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from sqlmodel import Session, col, select

from app.accounts.deps import CurrentPrincipal
from app.accounts.models import Role
from app.accounts.policy import Action, Principal, can
from app.consultations import service as consultations
from app.consultations.models import Consultation, ConsultationStatus, VotingMethod
from app.core.clock import NowDep
from app.core.db import SessionDep
from app.core.errors import API_ERRORS, Forbidden
from app.core.i18n import N_
from app.core.ratelimit import RateLimiter
from app.core.templating import render
from app.evaluation import exports
from app.evaluation.exports import Format, What
from app.territory.models import Axis
from app.voting import results as voting_results

router = APIRouter()

LINK_LIFETIME = timedelta(hours=1)
EXPORT_RATE = "60/hour"  # per person: an export reads a whole consultation


class LinkRefused(Forbidden):
    code = "download-link-refused"
    message = N_("Ce lien de téléchargement n’est pas le vôtre ou n’est plus valable : ouvrez de nouveau la page "
                 "des exports.")


def _plan(request: Request, session: Session, principal: Principal, consultation_id: int, fmt: Format, what: What,
          now: datetime) -> exports.ExportPlan:
    settings = request.app.state.settings
    return exports.plan_export(session, principal, consultation_id, fmt=fmt, what=what, now=now,
                               secret=settings.secret_key, threshold=settings.privacy_threshold,
                               licence=settings.open_data_licence, operator_name=settings.operator_name)


def _download(request: Request, session: Session, principal: Principal,
              plan: exports.ExportPlan) -> StreamingResponse:
    limiter: RateLimiter = request.app.state.rate_limiter
    limiter.hit(EXPORT_RATE, "export", str(principal.id))
    name = exports.filename(session, plan)
    session.commit()  # the results snapshot of an ended vote, stored on first use
    factory = request.app.state.session_factory

    def body() -> Iterator[bytes]:
        with factory() as streaming:  # the request's session closes when the route returns
            yield from exports.export_chunks(streaming, plan)

    return StreamingResponse(body(), media_type=exports.media_type(plan), headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "private, no-store",
    })


@router.get("/api/v1/consultations/{consultation_id}/export", tags=["evaluation"],
            summary="Export a consultation (proposals, anonymised ballots, results, comments)",
            response_class=StreamingResponse, responses={
                200: {"description": "The file (a zip for several tables or format=bundle)", "content": {
                    media.split(";")[0]: {} for media in (*exports.MEDIA_TYPES.values(), "application/zip")}},
                **API_ERRORS})
def export_api(request: Request, consultation_id: int, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
               fmt: Annotated[Format, Query(alias="format")] = Format.csv,
               what: Annotated[What, Query()] = What.all) -> StreamingResponse:
    """Streams the export. Evaluators of the consultation's scope, its moderators and admins only;
    hidden content only for its moderators; results hidden until the end stay hidden for all
    (`what=ballots|results` answers 403 until then). `format=csv` with several tables, and
    `format=bundle`, give a zip; `format=pb` (PaBuLib) is for budget consultations."""
    return _download(request, session, principal, _plan(request, session, principal, consultation_id, fmt, what,
                                                         now))


# --- signed links of the download pages


def _signature(secret: str, user_id: int, consultation_id: int, fmt: str, what: str, expires: int) -> str:
    key = hmac.new(secret.encode(), b"carreau/liens-export", hashlib.sha256).digest()
    message = f"{user_id}|{consultation_id}|{fmt}|{what}|{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def signed_link(secret: str, principal: Principal, consultation_id: int, fmt: Format, what: What,
                now: datetime) -> str:
    """A download link for this person only, valid for LINK_LIFETIME."""
    expires = int((now + LINK_LIFETIME).timestamp())
    query = {"format": fmt.value, "what": what.value, "pour": principal.id, "expire": expires,
             "signature": _signature(secret, principal.id, consultation_id, fmt.value, what.value, expires)}
    return f"/gestion/exports/{consultation_id}/fichier?{urlencode(query)}"


def _check_link(secret: str, principal: Principal, consultation_id: int, fmt: Format, what: What, user_id: int,
                expires: int, signature: str, now: datetime) -> None:
    expected = _signature(secret, user_id, consultation_id, fmt.value, what.value, expires)
    if user_id != principal.id or not hmac.compare_digest(expected, signature) or now.timestamp() > expires:
        raise LinkRefused()


def _exportable(session: Session, principal: Principal) -> list[tuple[Consultation, Axis | None]]:
    """The consultations this person may export, newest first."""
    rows = session.exec(
        select(Consultation, Axis).join(Axis, col(Axis.id) == Consultation.axis_id)
        .order_by(col(Consultation.voting_starts_at).desc(), col(Consultation.id).desc())
    ).all()
    return [(c, a) for c, a in rows
            if (c.status != ConsultationStatus.draft or consultations.can_manage(principal, c))
            and can(principal, Action.view_participation_figures, consultations.scope_of(c))]


@router.get("/gestion/exports", response_class=HTMLResponse, name="evaluation:exports", include_in_schema=False)
def exports_page(request: Request, session: SessionDep, principal: CurrentPrincipal) -> HTMLResponse:
    found = _exportable(session, principal)
    staff = principal.is_admin or principal.has_role(Role.evaluator) or principal.has_role(Role.moderator)
    if not found and not staff:
        raise exports.ExportForbidden()
    return render(request, "evaluation/exports.html", active="backoffice", consultations=found)


DATASETS = (
    (What.proposals, N_("Propositions"), N_("les propositions")),
    (What.ballots, N_("Bulletins anonymisés"), N_("les bulletins anonymisés")),
    (What.results, N_("Résultats"), N_("les résultats")),
    (What.comments, N_("Commentaires"), N_("les commentaires")),
    (What.evaluations, N_("Évaluations des actions"), N_("les évaluations des actions par les habitants")),
    (What.all, N_("Tout"), N_("toutes les données")),
)
FORMAT_NAMES = ((Format.csv, "CSV"), (Format.xlsx, "XLSX (Excel)"), (Format.ods, "ODS (LibreOffice)"),
                (Format.json, "JSON"))


@router.get("/gestion/exports/{consultation_id}", response_class=HTMLResponse, name="evaluation:export",
            include_in_schema=False)
def export_page(request: Request, consultation_id: int, session: SessionDep, now: NowDep,
                principal: CurrentPrincipal) -> HTMLResponse:
    settings = request.app.state.settings
    # The same checks as a download of everything (permission, draft), without building it.
    plan = _plan(request, session, principal, consultation_id, Format.json, What.proposals, now)
    session.commit()
    consultation = consultations.get(session, consultation_id, principal=principal)
    hidden = plan.results is None
    datasets = []
    for what, title, words in DATASETS:
        if hidden and what in (What.ballots, What.results):
            continue
        links = [(name, signed_link(settings.secret_key, principal, consultation_id, fmt, what, now))
                 for fmt, name in FORMAT_NAMES]
        datasets.append({"what": what.value, "title": title, "words": words, "links": links})
    bundle = signed_link(settings.secret_key, principal, consultation_id, Format.bundle, What.all, now)
    pabulib = None
    if consultation.voting_method == VotingMethod.budget and not hidden:
        pabulib = signed_link(settings.secret_key, principal, consultation_id, Format.pb, What.ballots, now)
    return render(request, "evaluation/exports_consultation.html", active="backoffice", consultation=consultation,
                  axis=session.get(Axis, consultation.axis_id), datasets=datasets, bundle=bundle, pabulib=pabulib,
                  hidden=hidden, reason=voting_results.ResultsHidden.message, include_hidden=plan.include_hidden,
                  threshold=settings.privacy_threshold, expires=now + LINK_LIFETIME)


@router.get("/gestion/exports/{consultation_id}/fichier", name="evaluation:export-file", include_in_schema=False)
def export_file(request: Request, consultation_id: int, session: SessionDep, now: NowDep,
                principal: CurrentPrincipal, pour: int, expire: int, signature: str,
                fmt: Annotated[Format, Query(alias="format")] = Format.csv,
                what: Annotated[What, Query()] = What.all) -> StreamingResponse:
    settings = request.app.state.settings
    _check_link(settings.secret_key, principal, consultation_id, fmt, what, pour, expire, signature, now)
    return _download(request, session, principal, _plan(request, session, principal, consultation_id, fmt, what,
                                                         now))
