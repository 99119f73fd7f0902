"""Proposals submitted to a consultation, and the comments under them."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, Index, Text
from sqlmodel import Field, SQLModel

from app.core.db import UtcDateTime


class ProposalState(StrEnum):
    pending = "pending"  # awaiting approval (pre-moderated consultations)
    published = "published"
    hidden = "hidden"  # by moderation; kept for the record
    withdrawn = "withdrawn"  # by its author; its votes no longer count
    evaluating = "evaluating"
    accepted = "accepted"
    rejected = "rejected"
    merged = "merged"  # folded into another proposal (`merged_into_id`), its supports carried over


# States in which a proposal is shown to the public and may receive votes.
VISIBLE_STATES = (ProposalState.published, ProposalState.evaluating, ProposalState.accepted, ProposalState.rejected)
PUBLIC_STATES = (*VISIBLE_STATES, ProposalState.withdrawn)


class Proposal(SQLModel, table=True):
    __tablename__ = "proposal"
    __table_args__ = (
        CheckConstraint(
            "state IN ('pending', 'published', 'hidden', 'withdrawn', 'evaluating', 'accepted', 'rejected',"
            " 'merged')",
            name="state_known",
        ),
        CheckConstraint("estimated_cost IS NULL OR estimated_cost >= 0", name="cost_positive"),
        CheckConstraint("supports_count >= 0 AND comments_count >= 0", name="counts_positive"),
        CheckConstraint("channel IN ('online', 'assisted')", name="channel_known"),
        # Everything a listing filters and sorts on (see proposals.service.list_proposals): the
        # count and the page's ids come from this index alone, without reading the wide rows.
        Index("ix_proposal_listing", "consultation_id", "state", "id", "supports_count", "comments_count",
              "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    consultation_id: int = Field(foreign_key="consultation.id")
    # The author's account stays (anonymised) when they erase it, so the link stays too.
    author_id: int = Field(foreign_key="user_account.id", index=True)
    title: str = Field(max_length=150)
    body: str = Field(sa_column=Column(Text, nullable=False))  # Markdown, as written
    body_html: str = Field(sa_column=Column(Text, nullable=False))  # rendered and sanitised
    # Title and body folded (case, accents) for full-text search; see the migration for the index.
    search_text: str = Field(sa_column=Column(Text, nullable=False))
    commune_insee: str | None = Field(default=None, foreign_key="commune.insee_code", max_length=5, index=True)
    estimated_cost: int | None = None  # euros
    state: str = Field(default=ProposalState.published, max_length=12)
    official_answer: str | None = Field(default=None, sa_column=Column(Text))
    answered_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    merged_into_id: int | None = Field(default=None, foreign_key="proposal.id", index=True)
    moderated_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    moderation_reason: str | None = Field(default=None, max_length=500)  # shown to the author when hidden
    channel: str = Field(default="online", max_length=10)
    # Denormalised counters, changed in the same transaction as the votes and comments they count.
    supports_count: int = 0
    comments_count: int = 0
    first_vote_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False, index=True))
    updated_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    withdrawn_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))


class CommentState(StrEnum):
    published = "published"
    hidden = "hidden"
    deleted = "deleted"  # by its author: "commentaire supprimé" stays where replies hang


MAX_COMMENT_DEPTH = 2  # a comment, its replies, and replies to those


class Comment(SQLModel, table=True):
    __tablename__ = "comment"
    __table_args__ = (
        CheckConstraint("state IN ('published', 'hidden', 'deleted')", name="state_known"),
        CheckConstraint("depth BETWEEN 0 AND 2", name="depth_range"),
        Index("ix_comment_proposal_created", "proposal_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposal.id")
    parent_id: int | None = Field(default=None, foreign_key="comment.id")
    depth: int = 0
    author_id: int = Field(foreign_key="user_account.id", index=True)
    body: str = Field(sa_column=Column(Text, nullable=False))
    body_html: str = Field(sa_column=Column(Text, nullable=False))
    state: str = Field(default=CommentState.published, max_length=12)
    moderation_reason: str | None = Field(default=None, max_length=500)
    moderated_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
