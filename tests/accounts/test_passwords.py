"""Password policy (CNIL 2022-100: length over composition) and argon2id hashing."""

import pytest

from app.accounts.passwords import MIN_LENGTH, hash_password, password_problems, verify_password

TOO_SHORT = "Le mot de passe doit compter au moins 12 caractères."
TOO_COMMON = "Ce mot de passe est trop courant : choisissez-en un autre, par exemple une phrase."
HAS_EMAIL = "Le mot de passe ne doit pas reprendre votre adresse électronique."
PASSPHRASE = "le terril de Loos-en-Gohelle au lever du jour"


def test_twelve_characters_at_least() -> None:
    assert MIN_LENGTH == 12
    assert password_problems("k9#Lp2!vQx7") == [TOO_SHORT]  # 11, however varied
    assert password_problems("chevalet bleu") == []  # 13, no digit, no capital: fine
    assert password_problems("abcdefghijkl") == []  # exactly 12
    assert password_problems("") == [TOO_SHORT, TOO_COMMON]


def test_no_composition_rule() -> None:
    """Length is what counts: no digit, capital or symbol is demanded."""
    assert password_problems("toutenminusculesansrien") == []


@pytest.mark.parametrize("password", ["azertyuiop123", "Motdepasse123", "PASSWORD1234", "123456789012",
                                      "aaaaaaaaaaaaaaaa", "abababababababab"])
def test_common_passwords_are_refused(password: str) -> None:
    assert TOO_COMMON in password_problems(password)


def test_too_long_is_refused() -> None:
    assert password_problems("mot " * 64) == []  # 256 characters
    assert password_problems("mot " * 64 + "x") == ["Le mot de passe ne peut pas dépasser 256 caractères."]


@pytest.mark.parametrize("password", ["angela.dubois@exemple.fr", "ANGELA.DUBOIS2026!", "mon angela.dubois a moi"])
def test_the_email_address_is_refused(password: str) -> None:
    assert password_problems(password, email="angela.dubois@exemple.fr") == [HAS_EMAIL]


def test_a_short_local_part_does_not_forbid_its_letters() -> None:
    """"al@exemple.fr" must not forbid every password containing "al"."""
    assert password_problems("le canal de Lens à la Deûle", email="al@exemple.fr") == []


def test_a_long_passphrase_is_accepted() -> None:
    assert password_problems(PASSPHRASE, email="angela.dubois@exemple.fr") == []


def test_hashes_are_argon2id_and_salted() -> None:
    first, second = hash_password(PASSPHRASE), hash_password(PASSPHRASE)
    assert first.startswith("$argon2id$")
    assert first != second  # a fresh salt each time
    assert PASSPHRASE not in first


def test_verify() -> None:
    stored = hash_password(PASSPHRASE)
    assert verify_password(PASSPHRASE, stored) is True
    assert verify_password(PASSPHRASE.upper(), stored) is False
    assert verify_password(PASSPHRASE + " ", stored) is False
    assert verify_password("", stored) is False


def test_verify_without_hash_is_false() -> None:
    """An account without a password (OpenID Connect only) never signs in with one."""
    assert verify_password(PASSPHRASE, None) is False
    assert verify_password("", None) is False


def test_verify_with_a_malformed_hash_is_false() -> None:
    assert verify_password(PASSPHRASE, "$argon2id$pas-un-hachage") is False
    assert verify_password(PASSPHRASE, "") is False
