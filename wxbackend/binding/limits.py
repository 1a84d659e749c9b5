"""Failure budgets for binding codes: per user and per IP with growing delays, and a service-wide budget.

Counters live in Redis for 15 minutes, so every process shares them.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from flask import current_app

from wxbackend.core.errors import DomainError
from wxbackend.core.redis import get_redis

WINDOW_SECONDS = 15 * 60


class TooManyAttempts(DomainError):
    code, message, status = "too_many_attempts", "尝试次数过多，请稍后再试", 429

    def __init__(self, retry_after: int, message: str | None = None):
        self.retry_after = retry_after
        super().__init__(message or f"尝试次数过多，请{retry_after}秒后再试")


@dataclass(frozen=True)
class Scope:
    name: str
    limit: int
    delays: bool  # growing delays between failures (not for the service-wide budget: one guesser must not
    #               slow everyone down)


def growing_delay(failures: int) -> int:
    """Seconds to wait after `failures` failures: none for the first 3, then 1, 2, 4 … up to 60."""
    return 0 if failures < 3 else min(2 ** (failures - 3), 60)


def scopes_for(user_id: int, ip: str) -> list[Scope]:
    cfg = current_app.config
    return [Scope(f"user:{user_id}", cfg["BIND_FAILURES_PER_USER"], True),
            Scope(f"ip:{ip}", cfg["BIND_FAILURES_PER_IP"], True),
            Scope("global", cfg["BIND_FAILURES_GLOBAL"], False)]


def check_budget(scopes: list[Scope]) -> None:
    """Raise TooManyAttempts when any scope has spent its budget or must still wait."""
    r = get_redis()
    now = time.time()
    for scope in scopes:
        failures = int(r.get(f"bind:fail:{scope.name}") or 0)
        if failures >= scope.limit:
            ttl = r.ttl(f"bind:fail:{scope.name}")
            raise TooManyAttempts(max(int(ttl), 1))
        if scope.delays:
            last = float(r.get(f"bind:last:{scope.name}") or 0)
            wait = growing_delay(failures) - (now - last)
            if wait > 0:
                raise TooManyAttempts(math.ceil(wait))


def record_failure(scopes: list[Scope]) -> None:
    r = get_redis()
    pipe = r.pipeline()
    for scope in scopes:
        pipe.incr(f"bind:fail:{scope.name}")
        pipe.expire(f"bind:fail:{scope.name}", WINDOW_SECONDS, nx=True)
        pipe.set(f"bind:last:{scope.name}", time.time(), ex=WINDOW_SECONDS)
    pipe.execute()
