"""Who may do what with notifications without signing in: the holder of an unsubscribe link.

The link carries a signed token (HMAC with the app's secret over the purpose and the user id), so
no row in the database is needed and nobody can make one for another person."""

import base64
import hashlib
import hmac

UNSUBSCRIBE_PURPOSE = "notifications-unsubscribe"


def _unsubscribe_signature(secret_key: str, user_id: int) -> str:
    digest = hmac.new(secret_key.encode(), f"{UNSUBSCRIBE_PURPOSE}:{user_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def unsubscribe_token(secret_key: str, user_id: int) -> str:
    """`<user id>.<HMAC(secret, purpose:user id)>`: whoever holds it may turn the person's emails off."""
    return f"{user_id}.{_unsubscribe_signature(secret_key, user_id)}"


def user_of_unsubscribe_token(secret_key: str, token: str) -> int | None:
    """The user id the token was made for, or None for a forged or mangled one."""
    raw_id, _, signature = token.partition(".")
    if not raw_id.isdigit() or len(raw_id) > 12 or not signature:
        return None
    user_id = int(raw_id)
    if not hmac.compare_digest(signature.encode(), _unsubscribe_signature(secret_key, user_id).encode()):
        return None
    return user_id
