"""What the helper must not forget when it restarts (DESIGN §7): the ids of used tickets until they expire, and the
wrong PINs per token serial of the last 15 minutes. One SQLite file in the helper's data directory (stdlib only;
each change is one transaction, so a crash leaves the file as before or after it); in memory when no directory is
configured (tests that run the helper inside their own process)."""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
from pathlib import Path

STORE_NAME = "helper-state.sqlite3"
SCHEMA = """
CREATE TABLE IF NOT EXISTS used_tickets (jti TEXT PRIMARY KEY, exp INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS pin_failures (serial TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS pin_failures_serial ON pin_failures (serial, at);
"""


def default_data_dir() -> Path:
    """The user's own application data directory: %LOCALAPPDATA%\\CAGJHelper on Windows, else
    $XDG_DATA_HOME/cagj-helper (~/.local/share/cagj-helper)."""
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "CAGJHelper"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "cagj-helper"


class HelperStore:
    """Used tickets and wrong PINs, shared by the helper's threads."""

    def __init__(self, data_dir: str | Path | None = None):
        if data_dir is None:
            target = ":memory:"
        else:
            directory = Path(data_dir)
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            target = str(directory / STORE_NAME)
        self.path = target
        self._lock = threading.Lock()
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None, timeout=5)
        with self._lock:
            self._db.executescript(SCHEMA)

    def ticket_used(self, jti: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM used_tickets WHERE jti = ?", (jti,)).fetchone() is not None

    def use_ticket(self, jti: str, exp: int, now: float) -> bool:
        """Record the ticket as used (forgetting those expired); False when it was used before."""
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM used_tickets WHERE exp <= ?", (now,))
            inserted = self._db.execute("INSERT OR IGNORE INTO used_tickets (jti, exp) VALUES (?, ?)", (jti, exp))
            return inserted.rowcount == 1

    def pin_failures(self, serial: str, since: float) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM pin_failures WHERE serial = ? AND at > ?",
                                    (serial, since)).fetchone()[0]

    def add_pin_failure(self, serial: str, at: float, forget_before: float) -> None:
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM pin_failures WHERE at <= ?", (forget_before,))
            self._db.execute("INSERT INTO pin_failures (serial, at) VALUES (?, ?)", (serial, at))

    def clear_pin_failures(self, serial: str) -> None:
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM pin_failures WHERE serial = ?", (serial,))
