"""A real OpenID Connect provider behaving like FranceConnect v2 (tests/oidc_provider/dev-op.mjs).

`oidc_provider` starts it once per session (per xdist worker, each on its own port) on 127.0.0.1.
Its client is registered for the RP at http://testserver (Starlette's TestClient):

    def test_login(oidc_provider, client):
        oidc_provider.set_account(sub="bob", birthplace=None, acr="eidas2")  # next logins only
        browser = httpx2.Client()  # holds the OP's cookies, as the user's browser would
        location = client.get("/auth/fc/login").headers["location"]  # the RP sends the user to the OP
        callback = oidc_provider.follow(browser, location)  # on http://testserver/auth/fc/callback?code=…
        ...
        oidc_provider.reset()  # the session-wide account is shared: restore the default one

The account is shared by every test of the session: reset it after changing it."""

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx2
import pytest

from tests.support import unavailable

OP_DIR = Path(__file__).resolve().parents[1] / "oidc_provider"
CLIENT_ID = "carreau-test"
CLIENT_SECRET = "carreau-test-secret-0123456789abcdefghij"  # 40 characters
REDIRECT_URIS = ("http://testserver/auth/test-op/callback", "http://testserver/auth/fc/callback")
POST_LOGOUT_REDIRECT_URIS = ("http://testserver/auth/test-op/logged-out", "http://testserver/auth/fc/logged-out")
STARTUP_TIMEOUT_S = 15.0
START_ATTEMPTS = 3  # another process may take the free port before node binds it
MAX_REDIRECTS = 10
HOW_TO_ENABLE = "Install Node.js and run npm ci in tests/oidc_provider"


@dataclass(frozen=True)
class OidcProvider:
    issuer: str
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...] = REDIRECT_URIS
    post_logout_redirect_uris: tuple[str, ...] = POST_LOGOUT_REDIRECT_URIS
    _http: httpx2.Client = field(default_factory=httpx2.Client, repr=False, compare=False)

    @property
    def metadata(self) -> dict[str, Any]:
        return self._http.get(f"{self.issuer}/.well-known/openid-configuration").raise_for_status().json()

    def set_account(self, **claims: Any) -> dict[str, Any]:
        """Who logs in at the next authorizations, until the next call or reset(). The claims are
        merged over the default account (Angela DUBOIS, sub "angela"); None removes a claim.
        acr="eidas2" forces that acr whatever was requested; error="access_denied" makes the
        login end with that error on the redirect_uri. Returns the account as the OP stored it."""
        response = self._http.post(f"{self.issuer}/__test/account", json=claims)
        return response.raise_for_status().json()

    def reset(self) -> None:
        """Back to the default account, the requested acr and no error."""
        self.set_account()

    def follow(self, browser: httpx2.Client, url: str) -> httpx2.URL:
        """Follow the OP's redirects with `browser` (which keeps the OP's cookies) and return the
        first URL outside the OP: the RP's redirect_uri or post_logout_redirect_uri. Fails on any
        other answer (an error page of the OP is JSON, shown in the failure message)."""
        target = httpx2.URL(url)
        for _ in range(MAX_REDIRECTS):
            if not str(target).startswith(f"{self.issuer}/"):
                return target
            response = browser.get(target, follow_redirects=False)
            if not response.is_redirect:
                pytest.fail(f"The OIDC provider answered {response.status_code} at {target}: {response.text[:2000]}")
            target = target.join(response.headers["location"])
        pytest.fail(f"More than {MAX_REDIRECTS} redirects on the OIDC provider, last one to {target}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(issuer: str) -> bool:
    try:
        return httpx2.get(f"{issuer}/.well-known/openid-configuration", timeout=2).status_code == 200
    except httpx2.TransportError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.stdin:
        process.stdin.close()  # dev-op.mjs exits when its stdin closes
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _start(port: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "OP_PORT": str(port),
        "OP_CLIENT_ID": CLIENT_ID,
        "OP_CLIENT_SECRET": CLIENT_SECRET,
        "OP_REDIRECT_URIS": ",".join(REDIRECT_URIS),
        "OP_POST_LOGOUT_REDIRECT_URIS": ",".join(POST_LOGOUT_REDIRECT_URIS),
    }
    # stdout goes to a file, so no pipe can fill up; stdin stays open for as long as we live, and
    # the OP exits when it closes: no orphan node process even if pytest is killed.
    return subprocess.Popen(
        ["node", "dev-op.mjs"], cwd=OP_DIR, env=env, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT
    )


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    """A FranceConnect-like OpenID provider on 127.0.0.1 for this session (or xdist worker)."""
    if shutil.which("node") is None:
        unavailable("OpenID Connect tests skipped: node not found", HOW_TO_ENABLE)
    if not (OP_DIR / "node_modules" / "oidc-provider").is_dir():
        unavailable("OpenID Connect tests skipped: tests/oidc_provider/node_modules is missing", HOW_TO_ENABLE)
    log_path = tmp_path_factory.mktemp("oidc-provider") / "op.log"
    with log_path.open("wb") as log:
        for _attempt in range(START_ATTEMPTS):
            port = _free_port()
            issuer = f"http://127.0.0.1:{port}"
            process = _start(port, log)
            try:
                deadline = time.monotonic() + STARTUP_TIMEOUT_S
                while time.monotonic() < deadline and process.poll() is None and not _answers(issuer):
                    time.sleep(0.05)
                if process.poll() is None and _answers(issuer):
                    break
            except BaseException:
                _stop(process)
                raise
            _stop(process)
        else:
            log.flush()
            pytest.fail(
                f"The OIDC provider did not answer within {STARTUP_TIMEOUT_S:.0f} s:\n"
                + log_path.read_text(errors="replace")[-4000:],
                pytrace=False,
            )
        provider = OidcProvider(issuer=issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        try:
            yield provider
        finally:
            provider._http.close()
            _stop(process)
