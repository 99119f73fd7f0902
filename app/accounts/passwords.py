"""Password hashing (argon2id) and the password policy.

The policy follows CNIL deliberation 2022-100: with sign-in throttled (rate limits), length beats
composition rules. We ask for 12 characters or more, any characters, and refuse the most common
passwords and those made of the person's own e-mail address."""

from pwdlib import PasswordHash

from app.core.i18n import N_

MIN_LENGTH = 12
MAX_LENGTH = 256  # argon2 takes any length; a bound keeps hashing cheap for the server

_hasher = PasswordHash.recommended()

# A few of the most used passwords that pass the length rule (from public breach statistics).
_COMMON = frozenset({
    "123456789012", "1234567890123", "12345678901234", "azertyuiopqs", "azertyuiop123", "qwertyuiop123",
    "motdepasse123", "motdepasse1234", "password1234", "password12345", "passwordpassword",
    "soleil123456", "bonjour12345", "aaaaaaaaaaaa", "000000000000", "111111111111", "123123123123",
    "iloveyou1234", "azertyazerty", "qwertyqwerty", "marseille1234", "doudou123456",
})


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Constant work whether or not the account exists, so timing does not reveal accounts."""
    if password_hash is None:
        _hasher.hash(password)
        return False
    try:
        return _hasher.verify(password, password_hash)
    except Exception:  # a malformed stored hash must not become a 500
        return False


def password_problems(password: str, *, email: str | None = None) -> list[str]:
    """French messages (translated when shown) for every rule the password breaks."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(N_("Le mot de passe doit compter au moins 12 caractères."))
    if len(password) > MAX_LENGTH:
        problems.append(N_("Le mot de passe ne peut pas dépasser 256 caractères."))
    lowered = password.lower()
    if lowered in _COMMON or len(set(lowered)) <= 2:
        problems.append(N_("Ce mot de passe est trop courant : choisissez-en un autre, par exemple une phrase."))
    if email:
        local_part = email.split("@", 1)[0].lower()
        if lowered == email.lower() or (len(local_part) >= 4 and local_part in lowered):
            problems.append(N_("Le mot de passe ne doit pas reprendre votre adresse électronique."))
    return problems
