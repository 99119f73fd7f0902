"""Validated input for official answers, actions, progress updates and merges, and their API shapes."""

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from app.actions.models import ActionStatus

ANSWER_MIN, ANSWER_MAX = 10, 10_000
TITLE_MIN, TITLE_MAX = 5, 200
OWNER_MAX = 200
DESCRIPTION_MAX = 10_000
UPDATE_MIN, UPDATE_MAX = 10, 5_000
BUDGET_MAX = 1_000_000_000
MERGE_MAX = 50

AnswerState = Literal["evaluating", "accepted", "rejected"]


def _day_only(value: object) -> object:
    """A day as the schema says (YYYY-MM-DD): pydantic would also read a number as a Unix time."""
    if isinstance(value, (int, float)):
        raise ValueError("a day is written YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(_day_only)]


def _clean(value: object) -> object:
    # NUL and other control characters (but line breaks and tabs) have no place in a text.
    if not isinstance(value, str):
        return value
    return "".join(ch for ch in value if ch in "\n\t" or ch >= " ").strip()


class ActionDraft(BaseModel):
    """The fields of an action, at its creation (alone, or when a proposal is accepted)."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=TITLE_MIN, max_length=TITLE_MAX)
    description: str = Field(default="", max_length=DESCRIPTION_MAX, description="Markdown")
    owner: str = Field(default="", max_length=OWNER_MAX, description="The service or body in charge")
    budget: int | None = Field(default=None, strict=True, ge=0, le=BUDGET_MAX, description="Euros")
    planned_start: Day | None = None
    planned_end: Day | None = None

    @field_validator("title", "description", "owner", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return _clean(value)

    @model_validator(mode="after")
    def _dates_in_order(self) -> "ActionDraft":
        if self.planned_start and self.planned_end and self.planned_start > self.planned_end:
            raise ValueError("planned_end must not come before planned_start")
        return self


class AcceptedAction(BaseModel):
    """The action an acceptance creates: every field optional (the title defaults to the proposal's,
    the budget to its estimated cost)."""

    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, min_length=TITLE_MIN, max_length=TITLE_MAX)
    description: str = Field(default="", max_length=DESCRIPTION_MAX)
    owner: str = Field(default="", max_length=OWNER_MAX)
    budget: int | None = Field(default=None, strict=True, ge=0, le=BUDGET_MAX)
    planned_start: Day | None = None
    planned_end: Day | None = None

    @field_validator("title", "description", "owner", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return _clean(value)

    @model_validator(mode="after")
    def _dates_in_order(self) -> "AcceptedAction":
        if self.planned_start and self.planned_end and self.planned_start > self.planned_end:
            raise ValueError("planned_end must not come before planned_start")
        return self


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: AnswerState
    answer: str = Field(min_length=ANSWER_MIN, max_length=ANSWER_MAX, description="Markdown, shown to the public")
    action: AcceptedAction | None = Field(
        default=None, description="Only with state `accepted`: the action it creates (defaults otherwise)")

    @field_validator("answer", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return _clean(value)


class ActionCreate(ActionDraft):
    consultation_id: int = Field(ge=1)
    proposal_ids: list[int] = Field(default_factory=list, max_length=MERGE_MAX,
                                    description="Accepted proposals of the consultation it comes from")


class ActionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, min_length=TITLE_MIN, max_length=TITLE_MAX)
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX)
    owner: str | None = Field(default=None, max_length=OWNER_MAX)
    budget: int | None = Field(default=None, strict=True, ge=0, le=BUDGET_MAX)
    planned_start: Day | None = None
    planned_end: Day | None = None

    @field_validator("title", "description", "owner", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return _clean(value)


class UpdateDraft(BaseModel):
    """A dated progress update: what happened, and the action's status and progress after it."""

    model_config = ConfigDict(extra="forbid")
    occurred_on: Day
    body: str = Field(min_length=UPDATE_MIN, max_length=UPDATE_MAX, description="Markdown")
    status: ActionStatus
    progress: int = Field(strict=True, ge=0, le=100, description="Per cent")

    @field_validator("body", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return _clean(value)


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    into: int = Field(ge=1, description="The proposal that stays")
    from_: list[int] = Field(alias="from", min_length=1, max_length=MERGE_MAX,
                             description="The duplicates folded into it")


# --- API shapes


class AnswerOut(BaseModel):
    proposal_id: int
    state: str
    official_answer: str
    official_answer_html: str
    answered_at: datetime
    action_id: int | None


class ActionUpdateOut(BaseModel):
    id: int
    occurred_on: date
    body: str
    body_html: str
    status: str
    progress: int
    created_at: datetime


class ActionSummary(BaseModel):
    id: int
    consultation_id: int
    axis_number: int
    title: str
    owner: str
    budget: int | None
    planned_start: date | None
    planned_end: date | None
    status: str
    progress: int
    updated_at: datetime


class ActionOut(ActionSummary):
    description: str
    description_html: str
    proposal_ids: list[int]
    updates: list[ActionUpdateOut]
    created_at: datetime


class ActionPage(BaseModel):
    items: list[ActionSummary]
    total: int


class MergeOut(BaseModel):
    into: int
    merged: list[int]
    supports: int = Field(description="The supports of the proposal that stays, once merged")
    moved: int = Field(description="Supports carried over")
    dropped: int = Field(description="Duplicate supports of residents who already supported it (counted once)")


EVALUATION_COMMENT_MAX = 2000


class EvaluationIn(BaseModel):
    """A resident's rating of an action (during the follow-up phase of its consultation)."""

    model_config = ConfigDict(extra="forbid")
    rating: int = Field(ge=1, le=5, strict=True, description="1 (very dissatisfied) to 5 (very satisfied)")
    comment: str | None = Field(default=None, max_length=EVALUATION_COMMENT_MAX,
                                description="Optional; Markdown; published without the author's name")

    @field_validator("comment", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return _clean(value)


class EvaluationSummaryOut(BaseModel):
    """The residents' evaluation of an action: never who rated."""

    action_id: int
    count: int
    average: float | None = Field(description="Mean rating (2 decimals); null until someone rates")
    distribution: dict[str, int] = Field(description="How many ratings of each value, keys '1' to '5'")
