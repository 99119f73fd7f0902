"""The application as the scanners see it (tests/security/scanners.sh): Carreau itself, with the
rate limits lifted so that sqlmap's and wapiti's thousands of requests reach the code they probe
instead of stopping at a 429 after the fifth write. Nothing else differs. Never used in production:
`uvicorn tests.security.scan_app:create_app --factory`."""

from fastapi import FastAPI

from app.core.ratelimit import RateLimiter
from app.main import create_app as create_carreau


class UnlimitedRateLimiter(RateLimiter):
    def hit(self, rate: str, *identifiers: str) -> None:
        return None


def create_app() -> FastAPI:
    app = create_carreau()
    app.state.rate_limiter = UnlimitedRateLimiter()
    return app
