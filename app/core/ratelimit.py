"""Rate limits (the `limits` package): in memory, or in Redis when CARREAU_REDIS_URL is set, so
that every worker shares the same counters."""

import time

from limits import parse
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from app.core.errors import DomainError
from app.core.i18n import N_


class TooManyRequests(DomainError):
    status_code = 429
    message = N_("Trop de tentatives en peu de temps. Patientez un moment avant de réessayer.")

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.headers = {"Retry-After": str(retry_after)}


class RateLimiter:
    def __init__(self, redis_url: str = "") -> None:
        self.storage: Storage = RedisStorage(redis_url) if redis_url else MemoryStorage()
        self.strategy = MovingWindowRateLimiter(self.storage)

    def hit(self, rate: str, *identifiers: str) -> None:
        """Count one attempt; raise TooManyRequests (with Retry-After) past `rate`, e.g. "5/minute"."""
        item = parse(rate)
        if not self.strategy.hit(item, *identifiers):
            reset_at = self.strategy.get_window_stats(item, *identifiers).reset_time
            raise TooManyRequests(retry_after=max(1, int(reset_at - time.time()) + 1))

    def reset(self) -> None:
        self.storage.reset()
