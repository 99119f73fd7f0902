"""/api/v1 endpoints of evaluation: participation statistics and representativeness.

Small counts come back as the string "<5" (the threshold is a setting), cells suppressed so that
no small count can be recovered by subtraction as "s"; `suppressed` says whether any was."""

import re
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, BeforeValidator, Field
from sqlmodel import Session, select

from app.accounts.deps import CurrentPrincipal
from app.core.clock import NowDep
from app.core.db import SessionDep
from app.evaluation import stats
from app.evaluation.charts import OUTLINE_SOURCE, POPULATION_SOURCE
from app.evaluation.stats import Filters
from app.territory.models import Axis

router = APIRouter(prefix="/api/v1", tags=["evaluation"])

Count = int | str


class StatItem(BaseModel):
    key: str = Field(description="Axis or consultation id, EPCI SIREN, INSEE code, age bracket, channel, "
                                 "day or Monday of the week (YYYY-MM-DD); '' for an unknown commune or EPCI")
    label: str
    participants: Count = Field(description="A number, '<5' under the threshold, or 's' (secret)")
    contributions: Count


class Totals(BaseModel):
    participants: Count
    contributions: Count


class ParticipationOut(BaseModel):
    by: str
    items: list[StatItem]
    suppressed: bool
    total: Totals
    threshold: int


class ReachItem(BaseModel):
    key: str
    name: str
    population: int
    participants: Count
    per_thousand: str = Field(description="Participants per 1,000 inhabitants ('<0.42' or 's' when suppressed)")
    ratio_to_average: str


class RepresentativenessOut(BaseModel):
    level: str
    average_per_thousand: str
    population: int
    participants: Count
    items: list[ReachItem]
    least_reached: list[str] = Field(description="INSEE codes of the least-reached communes, least first")
    suppressed: bool
    threshold: int
    sources: dict[str, str]


def _axis_id(session: Session, axis: str | None) -> int | None:
    """An axis given by its number (1-16) or its slug."""
    if not axis:
        return None
    query = select(Axis).where(Axis.number == int(axis)) if axis.isdigit() else select(Axis).where(Axis.slug == axis)
    found = session.exec(query).first()
    if found is None:
        raise stats.UnknownFilter()
    return found.id


AxisParam = Annotated[str | None, Query(max_length=80, description="Axis number (1-16) or slug")]
ConsultationParam = Annotated[int | None, Query(description="Consultation id")]
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_day(value: object) -> object:
    """YYYY-MM-DD only, as documented: pydantic would also read a number as a Unix time (until=0)."""
    if isinstance(value, str) and not ISO_DAY.fullmatch(value):
        raise ValueError("a day is written YYYY-MM-DD")
    return value


SinceParam = Annotated[date | None, BeforeValidator(_iso_day), Query(description="First day included (Paris time)")]
UntilParam = Annotated[date | None, BeforeValidator(_iso_day), Query(description="Last day included (Paris time)")]
EpciParam = Annotated[str | None, Query(max_length=9, description="SIREN of the participants' EPCI")]


@router.get("/stats/participation", response_model=ParticipationOut,
            summary="Participants and contributions grouped by one key (evaluators, moderators of the scope, admins)")
def participation(request: Request, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
                  by: Literal["axis", "consultation", "epci", "commune", "age_bracket", "channel", "day", "week"],
                  axis: AxisParam = None, consultation: ConsultationParam = None, since: SinceParam = None,
                  until: UntilParam = None, epci: EpciParam = None) -> ParticipationOut:
    filters = Filters(_axis_id(session, axis), consultation, since, until, epci or None)
    table = stats.participation(session, principal, filters, by, now=now,
                                threshold=request.app.state.settings.privacy_threshold)
    return ParticipationOut(
        by=by, items=[StatItem(**item) for item in table.api_items()], suppressed=table.suppressed,
        total=Totals(participants=table.total_participants, contributions=table.total_contributions),
        threshold=table.threshold,
    )


@router.get("/stats/representativeness", response_model=RepresentativenessOut,
            summary="Participants per 1,000 inhabitants by commune or EPCI (evaluators, moderators of the scope, "
                    "admins)")
def representativeness(request: Request, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
                       level: Literal["commune", "epci"] = "commune", axis: AxisParam = None,
                       consultation: ConsultationParam = None, since: SinceParam = None, until: UntilParam = None,
                       epci: EpciParam = None) -> RepresentativenessOut:
    filters = Filters(_axis_id(session, axis), consultation, since, until, epci or None)
    reach = stats.representativeness(session, principal, filters, now=now,
                                     threshold=request.app.state.settings.privacy_threshold)
    items = reach.communes if level == "commune" else reach.epcis
    return RepresentativenessOut(
        level=level, average_per_thousand=reach.average_text, population=reach.population,
        participants=reach.total_participants,
        items=[ReachItem(key=i.key, name=i.name, population=i.population, participants=i.shown_participants,
                         per_thousand=i.rate_text, ratio_to_average=i.ratio_text) for i in items],
        least_reached=[i.key for i in reach.least_reached], suppressed=reach.suppressed, threshold=reach.threshold,
        sources={"population": POPULATION_SOURCE, "outlines": OUTLINE_SOURCE},
    )
