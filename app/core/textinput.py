"""Texts the platform refuses whatever the field: a NUL character.

PostgreSQL cannot store NUL in a text (the driver raises on the INSERT, a 500 after the work is
done), SQLite would keep it and cut it short in some tools, and no person types it. One check for
the whole app, before any route reads its parameters: in the query, the path, a form or a JSON
body, a NUL is a validation error (422 problem+json under /api, the "invalid parameters" page
elsewhere), never a 500."""

from fastapi import Request
from fastapi.exceptions import RequestValidationError

FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def _error(where: str, name: str) -> RequestValidationError:
    return RequestValidationError([{
        "type": "string_pattern_mismatch", "loc": (where, name), "msg": "NUL characters are not allowed",
        "input": None,
    }])


async def refuse_nul(request: Request) -> None:
    """A dependency of the whole app (beside the CSRF check)."""
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            raise _error("query", name)
    for name, value in request.path_params.items():
        if isinstance(value, str) and "\x00" in value:
            raise _error("path", name)
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    kind = request.headers.get("content-type", "")
    if kind.startswith(FORMS):
        form = await request.form()
        for name, value in form.multi_items():
            if "\x00" in name or (isinstance(value, str) and "\x00" in value):
                raise _error("body", name)
    elif "json" in kind:
        body = await request.body()
        # JSON writes a NUL as the escape \u0000 (a raw one is invalid JSON, refused anyway).
        if b"\x00" in body or b"\\u0000" in body.lower():
            raise _error("body", "")
