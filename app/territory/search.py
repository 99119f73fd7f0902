"""Folding of names for search: case, accents, ligatures and punctuation do not matter."""

import re
import unicodedata

_LIGATURES = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ß": "ss"})
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def fold(text: str) -> str:
    """'Saint-Léger' and "saint leger" both give 'saint leger'."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return _NOT_ALNUM.sub(" ", ascii_only).strip()


def looks_like_postal_code(text: str) -> bool:
    stripped = text.strip()
    return stripped.isdigit() and 2 <= len(stripped) <= 5
