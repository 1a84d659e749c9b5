"""Failure budgets for binding codes: per user and per IP with growing delays, and a service-wide budget.

Counters live in Redis for 15 minutes, so every process shares them.

The service-wide budget is an alarm, not a lock: one burst from many accounts on many addresses must not stop
everyone binding. When it is spent the service slows down (an account or address that has failed in the window
waits BIND_SLOWDOWN_SECONDS after each failure, whatever its own budget says) and alerts once per window (an ERROR
log line and an audit row), while accounts and addresses with no recent failure, and claims by a QR token (192
random bits, not guessable), go on as usual.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from flask import current_app

from wxbackend.audit.service import record_audit
from wxbackend.core.errors import DomainError
from wxbackend.core.redis import get_redis

log = logging.getLogger(__name__)

WINDOW_SECONDS = 15 * 60
GLOBAL = "global"
ALERT_KEY = "bind:alert:global"


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
            Scope(GLOBAL, cfg["BIND_FAILURES_GLOBAL"], False)]


def check_budget(scopes: list[Scope], *, proven: bool = False) -> None:
    """Raise TooManyAttempts when the user's or the address's budget is spent or it must still wait; while the
    service-wide budget is spent, also when it has failed within the last BIND_SLOWDOWN_SECONDS. `proven`: the
    claimant holds a valid QR token, so the service-wide budget does not concern it."""
    r = get_redis()
    now = time.time()
    own = [scope for scope in scopes if scope.name != GLOBAL]
    service_wide = next((scope for scope in scopes if scope.name == GLOBAL), None)
    tripped = (service_wide is not None and not proven
               and int(r.get(f"bind:fail:{GLOBAL}") or 0) >= service_wide.limit)
    if tripped:
        alert_once(service_wide.limit)
    for scope in own:
        failures = int(r.get(f"bind:fail:{scope.name}") or 0)
        if failures >= scope.limit:
            ttl = r.ttl(f"bind:fail:{scope.name}")
            raise TooManyAttempts(max(int(ttl), 1))
        if not failures:
            continue
        since_last = now - float(r.get(f"bind:last:{scope.name}") or 0)
        wait = growing_delay(failures) - since_last if scope.delays else 0
        if tripped:
            wait = max(wait, current_app.config["BIND_SLOWDOWN_SECONDS"] - since_last)
        if wait > 0:
            raise TooManyAttempts(math.ceil(wait))


def record_failure(scopes: list[Scope]) -> None:
    r = get_redis()
    pipe = r.pipeline()
    for scope in scopes:
        pipe.incr(f"bind:fail:{scope.name}")
        pipe.expire(f"bind:fail:{scope.name}", WINDOW_SECONDS, nx=True)
        pipe.set(f"bind:last:{scope.name}", time.time(), ex=WINDOW_SECONDS)
    counts = pipe.execute()[::3]
    for scope, failures in zip(scopes, counts, strict=True):
        if scope.name == GLOBAL and failures >= scope.limit:
            alert_once(scope.limit)


def alert_once(limit: int) -> None:
    """The service-wide budget is spent: an ERROR log line and an audit row, once per window across processes."""
    if not get_redis().set(ALERT_KEY, int(time.time()), nx=True, ex=WINDOW_SECONDS):
        return
    log.error("binding: %d wrong binding codes service-wide within 15 minutes; slowing down accounts and addresses "
              "that failed, serving the others", limit)
    record_audit("system", "binding.failure_budget", target="binding:global", result="tripped",
                 detail={"limit": limit, "window_seconds": WINDOW_SECONDS})
