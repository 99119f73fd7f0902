"""Shapes of consultations in the API, and the validated input that creates or changes one."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.consultations.models import ScopeKind, VotingMethod


class PhaseStart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: datetime
    end: datetime | None = None  # read only for the follow-up phase (its end); others end when the next starts


class PhasesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    information: PhaseStart
    proposals: PhaseStart
    voting: PhaseStart
    results: PhaseStart
    follow_up: PhaseStart

    @model_validator(mode="after")
    def _in_order(self) -> "PhasesIn":
        starts = [self.information.start, self.proposals.start, self.voting.start, self.results.start,
                  self.follow_up.start]
        if any(moment.tzinfo is None for moment in starts):
            raise ValueError("phase dates need a time zone (ISO 8601 with an offset, e.g. 2027-01-01T00:00:00+01:00)")
        if starts != sorted(starts):
            raise ValueError("phases must follow each other: information, proposals, voting, results, follow_up")
        end = self.follow_up.end
        if end is not None and (end.tzinfo is None or end < self.follow_up.start):
            raise ValueError("the follow-up must end after it starts, with a time zone")
        return self


class ScopeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: ScopeKind
    code: str | None = Field(default=None, pattern=r"^\d{5}$|^\d{9}$")


class RulesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_supports: int = Field(default=0, ge=0, le=1000)
    min_age: int | None = Field(default=None, ge=0, le=120)
    required_verification: str = Field(default="declared", pattern=r"^(none|declared|verified)$")
    results_hidden_until_end: bool = False
    budget_total: int | None = Field(default=None, gt=0)


class ConsultationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=5, max_length=200)
    summary: str = Field(min_length=10, max_length=2000)
    body: str = Field(default="", max_length=20000)
    easy_read_summary: str | None = Field(default=None, max_length=4000)
    easy_read_rules: str | None = Field(default=None, max_length=4000)
    axis: int = Field(ge=1, le=16, description="Axis number, 1 to 16")
    scope: ScopeIn
    phases: PhasesIn
    voting_method: VotingMethod = VotingMethod.support
    rules: RulesIn = RulesIn()
    status: str = Field(default="draft", pattern=r"^(draft|published|archived)$")
    is_premoderated: bool = Field(default=False, description="Proposals appear only once a moderator approves them")


class ConsultationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, min_length=5, max_length=200)
    summary: str | None = Field(default=None, min_length=10, max_length=2000)
    body: str | None = Field(default=None, max_length=20000)
    easy_read_summary: str | None = Field(default=None, max_length=4000)
    easy_read_rules: str | None = Field(default=None, max_length=4000)
    scope: ScopeIn | None = None
    phases: PhasesIn | None = None
    voting_method: VotingMethod | None = None
    rules: RulesIn | None = None
    status: str | None = Field(default=None, pattern=r"^(draft|published|archived)$")
    is_premoderated: bool | None = None


class AxisRef(BaseModel):
    id: int
    number: int
    slug: str
    title: str


class ScopeOut(BaseModel):
    kind: str
    code: str | None
    name: str


class PhaseOut(BaseModel):
    start: datetime
    end: datetime | None


class RulesOut(BaseModel):
    max_supports: int
    min_age: int | None
    required_verification: str
    results_hidden_until_end: bool
    budget_total: int | None


class ConsultationOut(BaseModel):
    id: int
    slug: str
    title: str
    summary: str
    axis: AxisRef
    scope: ScopeOut
    phase: str
    phases: dict[str, PhaseOut]
    voting_method: str
    rules: RulesOut
    status: str
    is_premoderated: bool


class ConsultationPage(BaseModel):
    items: list[ConsultationOut]
    total: int
