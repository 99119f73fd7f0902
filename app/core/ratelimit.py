"""Rate limits: moving windows kept in the process's memory, or in Redis (the `limits` package)
when CARREAU_REDIS_URL is set, so that every worker and machine shares the same counters."""

import threading
import time
from collections import deque
from collections.abc import Callable
from functools import lru_cache

from limits import RateLimitItem, parse
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from app.core.errors import DomainError
from app.core.i18n import N_

SWEEP_EVERY = 60.0  # seconds between two sweeps of the keys left idle (memory limiter)


class TooManyRequests(DomainError):
    status_code = 429
    message = N_("Trop de tentatives en peu de temps. Patientez un moment avant de réessayer.")

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.headers = {"Retry-After": str(retry_after)}


@lru_cache(maxsize=64)
def _rate(rate: str) -> RateLimitItem:
    return parse(rate)


class MemoryWindows:
    """Moving windows in memory: for each key, the moments of its hits still inside its window.
    A key's old moments are dropped when it is hit, idle keys once a minute by the request that
    comes then. (limits' own MemoryStorage runs a timer thread that walks every key a hundred
    times a second: with thousands of residents voting, a measurable share of the CPU.)"""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.keys: dict[str, tuple[float, deque[float]]] = {}  # key → (window in seconds, moments)
        self.next_sweep = clock() + SWEEP_EVERY

    def hit(self, key: str, amount: int, window: float) -> float | None:
        """Count a hit; None if allowed, else the seconds until the window lets one more through."""
        now = self.clock()
        with self.lock:
            if now >= self.next_sweep:
                self._sweep(now)
            _, moments = self.keys.setdefault(key, (window, deque()))
            while moments and moments[0] <= now - window:
                moments.popleft()
            if len(moments) >= amount:
                return moments[0] + window - now
            moments.append(now)
            return None

    def _sweep(self, now: float) -> None:
        self.next_sweep = now + SWEEP_EVERY
        for key in [key for key, (window, moments) in self.keys.items() if not moments or moments[-1] <= now - window]:
            del self.keys[key]

    def reset(self) -> None:
        with self.lock:
            self.keys.clear()


class RateLimiter:
    def __init__(self, redis_url: str = "") -> None:
        self.memory = None if redis_url else MemoryWindows()
        self.storage = RedisStorage(redis_url) if redis_url else None
        self.strategy = MovingWindowRateLimiter(self.storage) if self.storage else None

    def hit(self, rate: str, *identifiers: str) -> None:
        """Count one attempt; raise TooManyRequests (with Retry-After) past `rate`, e.g. "5/minute"."""
        item = _rate(rate)
        if self.memory is not None:
            wait = self.memory.hit("/".join((rate, *identifiers)), item.amount, item.get_expiry())
            if wait is not None:
                raise TooManyRequests(retry_after=max(1, int(wait) + 1))
            return
        assert self.strategy is not None
        if not self.strategy.hit(item, *identifiers):
            reset_at = self.strategy.get_window_stats(item, *identifiers).reset_time
            raise TooManyRequests(retry_after=max(1, int(reset_at - time.time()) + 1))

    def reset(self) -> None:
        if self.memory is not None:
            self.memory.reset()
        elif self.storage is not None:
            self.storage.reset()
