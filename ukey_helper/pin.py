"""PIN rules on the helper's side (DESIGN §7): state read before login, FINAL_TRY only with the user's explicit
confirmation, LOCKED refused, and at most 3 wrong PINs per token per 15 minutes so that a hostile page cannot burn
the token's own counter (kept in the helper's store, so a restart does not reset it). The PIN itself is used for
C_Login and dropped: never returned, logged or stored."""

from __future__ import annotations

import time

from ukey_helper.errors import HelperError
from ukey_helper.store import HelperStore

MAX_FAILURES = 3
WINDOW_SECONDS = 15 * 60


def check_pin_format(pin: object) -> str:
    if not isinstance(pin, str) or not 4 <= len(pin) <= 32 or not pin.isprintable():
        raise HelperError("bad_request", "请输入4至32位PIN码")
    return pin


class PinAttempts:
    """Wrong-PIN failures per token serial in a sliding window (wall-clock time: it must hold across restarts)."""

    def __init__(self, store: HelperStore | None = None, max_failures: int = MAX_FAILURES,
                 window: float = WINDOW_SECONDS, clock=time.time):
        self.store = store or HelperStore()
        self.max_failures = max_failures
        self.window = window
        self.clock = clock

    def remaining(self, serial: str) -> int:
        return max(self.max_failures - self.store.pin_failures(serial, self.clock() - self.window), 0)

    def check(self, serial: str) -> None:
        if self.remaining(serial) == 0:
            raise HelperError("pin_attempts_exceeded")

    def fail(self, serial: str) -> int:
        """Record a wrong PIN; returns how many tries remain in the window."""
        now = self.clock()
        self.store.add_pin_failure(serial, now, forget_before=now - self.window)
        return self.remaining(serial)

    def succeed(self, serial: str) -> None:
        self.store.clear_pin_failures(serial)


def guard_pin_state(state: str, confirmed_final_try: bool) -> None:
    if state == "locked":
        raise HelperError("pin_locked")
    if state == "final_try" and not confirmed_final_try:
        raise HelperError("pin_final_try", tries_left=1)
