"""The export of a consultation's ratings of its actions (`--what evaluations` of app.evaluation.exports):
each rating without any account id nor name: the action, the rating, the comment as the public sees
it (hidden ones in the exports of moderators only), the channel, the day, and the rater's EPCI
(user_account.commune_insee → commune.epci_siren), coarsened to the whole basin where an EPCI holds
fewer raters than the threshold, and the smallest EPCIs with it until the basin holds enough too.
Rows are streamed (server-side cursor)."""

from collections.abc import Iterator

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.accounts.models import User
from app.actions.models import ActionEvaluation, PublicAction
from app.evaluation.formats import Column, Row, Table
from app.territory.models import Commune, Epci

BASIN = "bassin"


EVALUATIONS_TABLE = Table("evaluations", "Évaluations des actions", (
    "Les notes (1 à 5) données par les habitants aux actions de la consultation pendant la phase de suivi, "
    "sans nom ni identifiant de compte."), (
    Column("action_id", "integer", "Identifiant de l’action sur la plateforme."),
    Column("action", "string", "Titre de l’action."),
    Column("note", "integer", "Note de 1 (très insatisfait) à 5 (très satisfait)."),
    Column("commentaire", "string", "Commentaire de l’habitant (Markdown), tel qu’il est publié ; vide s’il n’y en "
                                    "a pas ou s’il est masqué par la modération (sauf export des modérateurs)."),
    Column("masque", "boolean", "Le commentaire est masqué par la modération (export des modérateurs)."),
    Column("canal", "string", "online (en ligne) ou assisted (avec un médiateur)."),
    Column("niveau_territoire", "string", "epci, ou bassin quand l’intercommunalité compte trop peu d’évaluateurs "
                                          "(ou qu’elle est inconnue)."),
    Column("code_territoire", "string", "SIREN de l’intercommunalité ; vide pour le bassin."),
    Column("territoire", "string", "Nom de l’intercommunalité, ou « Bassin minier »."),
    Column("date", "date", "Jour de la dernière note (UTC)."),
))


def coarse_epcis(counts: dict[str | None, int], threshold: int) -> dict[str | None, str]:
    """EPCI of each rater's group → what the file shows: the EPCI when it holds at least `threshold`
    raters, else the basin (""); if the basin then holds too few, the smallest EPCIs join it."""
    shown = {epci: (epci if epci and n >= threshold else "") for epci, n in counts.items()}

    def basin() -> int:
        return sum(n for epci, n in counts.items() if shown[epci] == "")

    while 0 < basin() < threshold:
        others = sorted((n, epci) for epci, n in counts.items() if shown[epci] != "" and epci)
        if not others:
            break
        shown[others[0][1]] = ""
    return shown


def evaluation_rows(session: Session, consultation_id: int, *, include_hidden: bool, threshold: int,
                    yield_per: int = 2000) -> Iterator[Row]:
    """The ratings of a consultation's actions, one row each, streamed (server-side cursor)."""
    grouped = (
        select(Commune.epci_siren, func.count())
        .select_from(ActionEvaluation)
        .join(PublicAction, col(PublicAction.id) == col(ActionEvaluation.action_id))
        .outerjoin(User, col(User.id) == col(ActionEvaluation.user_id))
        .outerjoin(Commune, col(Commune.insee_code) == col(User.commune_insee))
        .where(col(PublicAction.consultation_id) == consultation_id)
        .group_by(col(Commune.epci_siren))
    )
    counts = {epci: int(n) for epci, n in session.execute(grouped)}
    places = coarse_epcis(counts, threshold)
    names = dict(session.exec(select(Epci.siren, Epci.name)).all())
    rows = session.execute(
        select(ActionEvaluation.action_id, PublicAction.title, ActionEvaluation.rating, ActionEvaluation.comment,
               ActionEvaluation.state, ActionEvaluation.channel, ActionEvaluation.updated_at, Commune.epci_siren)
        .join(PublicAction, col(PublicAction.id) == col(ActionEvaluation.action_id))
        .outerjoin(User, col(User.id) == col(ActionEvaluation.user_id))
        .outerjoin(Commune, col(Commune.insee_code) == col(User.commune_insee))
        .where(col(PublicAction.consultation_id) == consultation_id)
        .order_by(col(ActionEvaluation.action_id), col(ActionEvaluation.id))
        .execution_options(yield_per=yield_per)
    )
    for action_id, title, rating, comment, state, channel, moment, epci in rows:
        hidden = state == "hidden"
        shown_comment = comment if (not hidden or include_hidden) else None
        code = places.get(epci, "")
        level = "epci" if code else BASIN
        yield (action_id, title, rating, shown_comment or "", hidden if include_hidden else False, channel, level,
               code, names.get(code, code) if code else "Bassin minier", moment.date())
