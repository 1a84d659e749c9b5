"""PIN rules on the helper's side (DESIGN §7): state read before login, FINAL_TRY only with the user's explicit
confirmation, LOCKED refused, and at most 3 wrong PINs per token per 15 minutes so that a hostile page cannot burn
the token's own counter. The PIN itself is used for C_Login and dropped: never returned, logged or stored."""

from __future__ import annotations

import threading
import time

from ukey_helper.errors import HelperError

MAX_FAILURES = 3
WINDOW_SECONDS = 15 * 60


def check_pin_format(pin: object) -> str:
    if not isinstance(pin, str) or not 4 <= len(pin) <= 32 or not pin.isprintable():
        raise HelperError("bad_request", "请输入4至32位PIN码")
    return pin


class PinAttempts:
    """Wrong-PIN failures per token serial in a sliding window."""

    def __init__(self, max_failures: int = MAX_FAILURES, window: float = WINDOW_SECONDS, clock=time.monotonic):
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, serial: str) -> list[float]:
        cutoff = self.clock() - self.window
        recent = [t for t in self._failures.get(serial, []) if t > cutoff]
        self._failures[serial] = recent
        return recent

    def remaining(self, serial: str) -> int:
        with self._lock:
            return max(self.max_failures - len(self._recent(serial)), 0)

    def check(self, serial: str) -> None:
        if self.remaining(serial) == 0:
            raise HelperError("pin_attempts_exceeded")

    def fail(self, serial: str) -> int:
        """Record a wrong PIN; returns how many tries remain in the window."""
        with self._lock:
            self._recent(serial).append(self.clock())
            return max(self.max_failures - len(self._failures[serial]), 0)

    def succeed(self, serial: str) -> None:
        with self._lock:
            self._failures.pop(serial, None)


def guard_pin_state(state: str, confirmed_final_try: bool) -> None:
    if state == "locked":
        raise HelperError("pin_locked")
    if state == "final_try" and not confirmed_final_try:
        raise HelperError("pin_final_try", tries_left=1)
