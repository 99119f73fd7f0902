import pytest

from app.territory.search import fold, looks_like_postal_code


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Liévin", "lievin"),
        ("LIÉVIN", "lievin"),
        ("Annœullin", "annoeullin"),
        ("ANNŒULLIN", "annoeullin"),
        ("Saint-Léger", "saint leger"),
        ("saint leger", "saint leger"),
        ("Trith-Saint-Léger", "trith saint leger"),
        ("Éleu-dit-Leauwette", "eleu dit leauwette"),
        ("Pont-à-Vendin", "pont a vendin"),
        ("  Fouquières-lès-Lens  ", "fouquieres les lens"),
        ("L'Abbaye", "l abbaye"),
        ("Lætitia", "laetitia"),
        ("", ""),
        ("--", ""),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


@pytest.mark.parametrize(
    ("text", "expected"),
    [("62800", True), (" 62 ", True), ("6", False), ("628000", False), ("62a00", False), ("Lens", False)],
)
def test_looks_like_postal_code(text: str, expected: bool) -> None:
    assert looks_like_postal_code(text) is expected
