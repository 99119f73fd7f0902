"""The baseline of the benchmark: a minimal ASGI application answering a constant HTML page.

bench/run serves it with exactly the server settings used for Carreau, so every row of the report
can be read as a fraction of what the HTTP stack alone manages on this machine. The page's size is
set by BENCH_BASELINE_BYTES (bench/run sets it to the size of the consultation page it measured)."""

import os

SIZE = int(os.environ.get("BENCH_BASELINE_BYTES", "30"))
_FILLER = "<p>Carreau, la participation citoyenne du Bassin minier.</p>\n"
BODY = ("<!doctype html><html lang=\"fr\"><title>Référence</title>\n" + _FILLER * (SIZE // len(_FILLER) + 1))
PAGE = BODY.encode()[:SIZE] if SIZE >= 64 else b"<!doctype html><title>ok</title>"[:max(SIZE, 1)]
HEADERS = [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(PAGE)).encode())]


async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
    if scope["type"] == "lifespan":
        while True:
            message = await receive()  # type: ignore[operator]
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})  # type: ignore[operator]
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})  # type: ignore[operator]
                return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": PAGE})  # type: ignore[operator]
