"""Writing the audit trail."""

from __future__ import annotations

from typing import Any

from wxbackend.audit.models import AuditLog
from wxbackend.core.db import db
from wxbackend.core.uow import keep_after_rollback

FORBIDDEN_DETAIL_KEYS = {"pin", "code", "binding_code", "id_number", "access_token", "key", "password", "secret"}


def record_audit(actor: str, action: str, *, target: str = "", result: str = "ok", ip: str = "",
                 detail: dict[str, Any] | None = None) -> AuditLog:
    """Add an audit row (flushed with the caller's unit of work). Refuses details that name a secret.

    A row whose result is not "ok" records a refusal or a failure: it outlives the rollback of the unit of work
    that the refusal undoes (DESIGN §12: every attempt is audited)."""
    detail = detail or {}
    leaked = FORBIDDEN_DETAIL_KEYS.intersection(k.lower() for k in detail)
    if leaked:
        raise ValueError(f"audit detail must not hold secrets: {sorted(leaked)}")
    values = {"actor": actor, "action": action, "target": target, "result": result, "ip": ip, "detail": detail}
    entry = AuditLog(**values)
    db.session.add(entry)
    if result != "ok":
        keep_after_rollback(lambda: db.session.add(AuditLog(**values)))
    return entry
