"""What the console's home and menu list: one entry per queue of waiting work (DESIGN §15: none hidden), given by
each domain's admin module as `QUEUES` and collected by create_app."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType

from flask import current_app


@dataclass(frozen=True)
class ConsoleQueue:
    title: str
    endpoint: str
    roles: tuple[str, ...]  # who works this queue
    count: Callable[[], int] | None = None  # None: a page without a count (search, audit log)
    group: str = "队列"


def collect(modules: Iterable[ModuleType]) -> list[ConsoleQueue]:
    return [queue for module in modules for queue in getattr(module, "QUEUES", ())]


def queues_for(staff) -> list[ConsoleQueue]:
    return [q for q in current_app.extensions["console_queues"] if staff.has_role(*q.roles)]
