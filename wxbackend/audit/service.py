"""Writing the audit trail, and reading it back for the console (search, CSV export). Nothing here, nor anywhere,
changes or deletes a row (DESIGN §15; README "Audit trail")."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from wxbackend.audit.models import AuditLog
from wxbackend.core.db import db
from wxbackend.core.redaction import redact_values
from wxbackend.core.times import local_second
from wxbackend.core.uow import keep_after_rollback

# Details that carry what a person typed (a staff member's reason, a follower's text, a scene): masked before they
# are kept (`core.redaction`). Other details are identifiers and amounts the code put there, kept as they are.
FREE_TEXT_DETAIL_KEYS = {"why", "reason", "note", "text", "content", "message", "scene", "errmsg", "remark",
                         "comment", "query"}
FORBIDDEN_DETAIL_KEYS = {"pin", "code", "binding_code", "id_number", "access_token", "key", "password", "secret"}
PAGE_SIZE = 50
EXPORT_BATCH = 1000
EXPORT_COLUMNS = ("编号", "时间（北京时间）", "操作者", "操作", "对象", "结果", "IP", "详情")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run such a cell as a formula


def record_audit(actor: str, action: str, *, target: str = "", result: str = "ok", ip: str = "",
                 detail: dict[str, Any] | None = None) -> AuditLog:
    """Add an audit row (flushed with the caller's unit of work). Refuses details that name a secret.

    A row whose result is not "ok" records a refusal or a failure: it outlives the rollback of the unit of work
    that the refusal undoes (DESIGN §12: every attempt is audited)."""
    detail = detail or {}
    leaked = FORBIDDEN_DETAIL_KEYS.intersection(k.lower() for k in detail)
    if leaked:
        raise ValueError(f"audit detail must not hold secrets: {sorted(leaked)}")
    detail = _redacted(detail)
    values = {"actor": actor, "action": action, "target": target, "result": result, "ip": ip, "detail": detail}
    entry = AuditLog(**values)
    db.session.add(entry)
    if result != "ok":
        keep_after_rollback(lambda: db.session.add(AuditLog(**values)))
    return entry


def _redacted(detail: dict[str, Any]) -> dict[str, Any]:
    """Free-text details masked (ID numbers, codes, mobiles), at any depth; everything else as given."""
    kept: dict[str, Any] = {}
    for key, value in detail.items():
        if key.lower() in FREE_TEXT_DETAIL_KEYS:
            kept[key] = redact_values(value)
        elif isinstance(value, dict):
            kept[key] = _redacted(value)
        else:
            kept[key] = value
    return kept


# ------------------------------------------------------------------------------------------ reading it back


@dataclass(frozen=True)
class AuditQuery:
    """Which rows to read; every criterion given must hold."""

    actor: str = ""  # exact: staff:3, user:12, system
    target: str = ""  # a prefix: order: (every order), path:/admin/; one ending in a digit names one object and
    # is matched exactly, so order:15 finds order:15 but not order:150 (and uses the index at any size)
    action: str = ""  # a prefix: staff. (every staff action), order.personal_data_viewed
    result: str = ""  # exact: ok, refused, …
    since: datetime | None = None  # aware; inclusive
    until: datetime | None = None  # aware; exclusive

    def described(self) -> dict[str, str]:
        """The criteria given, as text (for the export's own audit row)."""
        values = {"actor": self.actor, "target": self.target, "action": self.action, "result": self.result,
                  "since": self.since.isoformat() if self.since else "",
                  "until": self.until.isoformat() if self.until else ""}
        return {name: value for name, value in values.items() if value}


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditLog]
    next_before: int | None  # the id the next page starts below; None: this is the last page


def like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _conditions(query: AuditQuery) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = []
    if query.actor:
        where.append(AuditLog.actor == query.actor)
    if query.target and query.target[-1].isdigit():
        where.append(AuditLog.target == query.target)  # one object: order:15, never order:150
    elif query.target:
        where.append(AuditLog.target.like(like_escaped(query.target) + "%", escape="\\"))
    if query.action:
        where.append(AuditLog.action.like(like_escaped(query.action) + "%", escape="\\"))
    if query.result:
        where.append(AuditLog.result == query.result)
    if query.since:
        where.append(AuditLog.created_at >= query.since)
    if query.until:
        where.append(AuditLog.created_at < query.until)
    return where


def search_audit(query: AuditQuery, before_id: int | None = None, limit: int = PAGE_SIZE) -> AuditPage:
    """The rows matching `query`, newest first (by id), `limit` of them below `before_id`; `next_before` is where
    the following page starts when there is one."""
    select = sa.select(AuditLog).where(*_conditions(query))
    if before_id is not None:
        select = select.where(AuditLog.id < before_id)
    rows = list(db.session.scalars(select.order_by(AuditLog.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(rows, rows[-1].id if more else None)


def spreadsheet_safe(value: str) -> str:
    """A cell a spreadsheet shows as text: one that would start a formula gets a leading apostrophe."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _csv_line(writer_buffer: io.StringIO, writer, cells) -> bytes:
    writer.writerow([spreadsheet_safe(str(cell)) for cell in cells])
    text = writer_buffer.getvalue()
    writer_buffer.seek(0)
    writer_buffer.truncate()
    return text.encode("utf-8")


def audit_csv(query: AuditQuery, max_rows: int) -> Iterator[bytes]:
    """The rows matching `query`, newest first, as CSV in UTF-8 with a byte-order mark (so that Excel reads the
    Chinese), produced batch by batch (never the whole result in memory), at most `max_rows` of them and then a
    last line saying the export stopped there."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    yield "\ufeff".encode() + _csv_line(buffer, writer, EXPORT_COLUMNS)
    columns = (AuditLog.id, AuditLog.created_at, AuditLog.actor, AuditLog.action, AuditLog.target, AuditLog.result,
               AuditLog.ip, AuditLog.detail)
    where = _conditions(query)
    before, written = None, 0
    while written < max_rows:
        wanted = min(EXPORT_BATCH, max_rows - written)
        select = sa.select(*columns).where(*where)
        if before is not None:
            select = select.where(AuditLog.id < before)
        batch = db.session.execute(select.order_by(AuditLog.id.desc()).limit(wanted)).all()
        if batch:
            yield b"".join(_csv_line(buffer, writer, (row.id, local_second(row.created_at), row.actor, row.action,
                                                      row.target, row.result, row.ip,
                                                      json.dumps(row.detail, ensure_ascii=False, sort_keys=True)))
                           for row in batch)
            written += len(batch)
            before = batch[-1].id
        if len(batch) < wanted:
            return
    if before is not None and db.session.scalar(sa.select(AuditLog.id).where(*where, AuditLog.id < before)
                                                .limit(1)) is not None:
        yield _csv_line(buffer, writer, [f"（导出已达上限{max_rows}行，其余未导出；请缩小时间范围后分批导出）"])


def export_audit(staff_id: int, query: AuditQuery, max_rows: int, ip: str = "") -> Iterator[bytes]:
    """Record that staff member `staff_id` exported the rows matching `query` (an audit row, with the criteria),
    then the CSV (`audit_csv`), to stream after the request commits."""
    record_audit(f"staff:{staff_id}", "audit.export", target="audit_logs", ip=ip,
                 detail={"filters": query.described(), "max_rows": max_rows})
    return audit_csv(query, max_rows)
