"""Proposal and comment input, validated, and their API shapes."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

TITLE_MIN, TITLE_MAX = 10, 150
BODY_MIN, BODY_MAX = 15, 5000


def _clean(value: str) -> str:
    # NUL and other control characters (but line breaks and tabs) have no place in a text.
    return "".join(ch for ch in value if ch in "\n\t" or ch >= " ").strip()


class ProposalDraft(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=TITLE_MIN, max_length=TITLE_MAX)
    body: str = Field(min_length=BODY_MIN, max_length=BODY_MAX)
    commune: str | None = Field(default=None, pattern=r"^\d[\dAB]\d{3}$")
    estimated_cost: int | None = Field(default=None, ge=0, le=1_000_000_000)

    @field_validator("title", "body", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return _clean(value) if isinstance(value, str) else value


class ProposalPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, min_length=TITLE_MIN, max_length=TITLE_MAX)
    body: str | None = Field(default=None, min_length=BODY_MIN, max_length=BODY_MAX)
    commune: str | None = Field(default=None, pattern=r"^\d[\dAB]\d{3}$")
    estimated_cost: int | None = Field(default=None, ge=0, le=1_000_000_000)

    @field_validator("title", "body", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return _clean(value) if isinstance(value, str) else value


class CommentDraft(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(min_length=2, max_length=3000)
    parent_id: int | None = None

    @field_validator("body", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return _clean(value) if isinstance(value, str) else value


class CommentPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(min_length=2, max_length=3000)

    @field_validator("body", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return _clean(value) if isinstance(value, str) else value


class ProposalSummary(BaseModel):
    id: int
    title: str
    author: str
    commune_insee: str | None
    state: str
    supports: int
    comments: int
    created_at: datetime


class ProposalOut(ProposalSummary):
    consultation_id: int
    body: str
    body_html: str
    estimated_cost: int | None
    official_answer: str | None
    answered_at: datetime | None = None
    merged_into_id: int | None = None  # state `merged`: the proposal that took its supports
    updated_at: datetime


class ProposalPage(BaseModel):
    items: list[ProposalSummary]
    total: int


class CommentOut(BaseModel):
    id: int
    proposal_id: int
    parent_id: int | None
    depth: int
    author: str | None
    body_html: str | None
    state: str
    created_at: datetime
    updated_at: datetime
