"""Input of the counter (guichet) and of the claim page, validated, and the claim code's format."""

import secrets
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

# No 0/O, 1/I/L: a code read aloud or copied from paper cannot be mistaken. 31 symbols, 12 of
# them: about 59 bits, against a handful of guesses an hour (rate limit) for 30 days.
CLAIM_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CLAIM_LENGTH = 12
CLAIM_GROUP = 4


def new_claim_code() -> str:
    return "".join(secrets.choice(CLAIM_ALPHABET) for _ in range(CLAIM_LENGTH))


def normalize_claim_code(raw: str) -> str:
    """What the person typed, without spaces, dashes or case ('abcd-efgh jkmn' → 'ABCDEFGHJKMN')."""
    return "".join(ch for ch in raw.upper() if ch.isalnum())


def group_claim_code(code: str) -> str:
    """'ABCDEFGHJKMN' → 'ABCD-EFGH-JKMN', as printed."""
    return "-".join(code[i:i + CLAIM_GROUP] for i in range(0, len(code), CLAIM_GROUP))


class ResidentIn(BaseModel):
    """A resident registered at the counter: no e-mail address, a commune of the mediator's."""

    model_config = ConfigDict(extra="forbid")
    display_name: str = Field(min_length=2, max_length=80)
    given_name: str | None = Field(default=None, max_length=200)
    family_name: str | None = Field(default=None, max_length=200)
    commune: str = Field(pattern=r"^\d[\dAB]\d{3}$")
    birth_year: int = Field(ge=1900, le=2100)
    # The mediator read the terms of use to the person, who accepted them.
    terms_accepted: bool = False
    # Someone of the same name and birth year lives in the commune: the mediator checked that this
    # is another person (two accounts for one person would let them vote twice).
    confirmed_new: bool = False


@dataclass(frozen=True)
class ResidentSearch:
    """What the mediator knows of the person in front of them."""

    name: str = ""
    birth_year: int | None = None
    commune: str | None = None
