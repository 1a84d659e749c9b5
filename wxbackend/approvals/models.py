"""审批申请 and their decisions (DESIGN §15: four eyes).

An `ApprovalRequest` asks for a decision about one object (`object_type`, `object_id`) as it stood at one
`revision`; a newer revision voids it. Its `steps` (a JSON list of {"title", "roles"}) are decided in order, each by
one staff member holding one of the step's roles; `current_step` is the first undecided one and `current_roles` /
`all_roles` repeat the roles as `,finance,admin,` so the queue can find them in SQL. Every decision is an
`ApprovalDecision` row; one person decides at most one step of a request (a unique constraint stands behind the
service's check)."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wxbackend.core.db import UTCDateTime, db
from wxbackend.core.times import utcnow


class ApprovalStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    VOIDED = "voided"  # a new revision of the object came, or the object changed before the decision


APPROVAL_STATUS_LABELS = {ApprovalStatus.PENDING: "待审批", ApprovalStatus.APPROVED: "已批准",
                          ApprovalStatus.REJECTED: "已驳回", ApprovalStatus.VOIDED: "已作废"}


class Verdict(enum.StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


VERDICT_LABELS = {Verdict.APPROVE: "批准", Verdict.REJECT: "驳回"}
PENDING_WHERE = "status = 'pending'"


class ApprovalRequest(db.Model):
    """One request for a decision. At most one pending request per kind and object (a partial unique index)."""

    __tablename__ = "approval_requests"
    __table_args__ = (
        sa.Index("uq_approval_requests_pending_object", "kind", "object_type", "object_id", unique=True,
                 postgresql_where=sa.text(PENDING_WHERE), sqlite_where=sa.text(PENDING_WHERE)),
        sa.Index("ix_approval_requests_object", "object_type", "object_id"),
        sa.Index("ix_approval_requests_queue", "status", "created_at", "id"),  # the queue's keyset paging
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(32))  # e.g. "refund"; its effect is registered in create_app
    object_type: Mapped[str] = mapped_column(sa.String(32))  # e.g. "order"
    object_id: Mapped[int] = mapped_column(sa.Integer)
    revision: Mapped[int] = mapped_column(sa.Integer)  # the object's revision this request is about
    summary: Mapped[str] = mapped_column(sa.String(1000))  # what will happen, in Chinese, shown before deciding
    payload: Mapped[dict] = mapped_column(sa.JSON, default=dict)  # the same, as data the effect uses
    steps: Mapped[list] = mapped_column(sa.JSON)  # [{"title": "财务审批", "roles": ["finance"]}, …]
    current_step: Mapped[int] = mapped_column(sa.Integer, default=0)
    current_roles: Mapped[str] = mapped_column(sa.String(100), default="")  # ",finance," ("" once decided)
    all_roles: Mapped[str] = mapped_column(sa.String(100), default="")  # ",admin,finance,"
    status: Mapped[str] = mapped_column(sa.String(16), default=ApprovalStatus.PENDING)
    created_by: Mapped[str] = mapped_column(sa.String(64))  # "staff:3" or "user:12"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # approved, rejected or voided
    closing_note: Mapped[str] = mapped_column(sa.String(200), default="")  # why it was voided

    decisions: Mapped[list[ApprovalDecision]] = relationship(back_populates="request",
                                                             order_by="ApprovalDecision.step")

    @property
    def status_label(self) -> str:
        return APPROVAL_STATUS_LABELS[ApprovalStatus(self.status)]

    @property
    def created_by_staff_id(self) -> int | None:
        prefix, _, number = self.created_by.partition(":")
        return int(number) if prefix == "staff" and number.isdigit() else None


class ApprovalDecision(db.Model):
    """One staff member's decision on one step: approve, or reject with a reason (and the fields to correct)."""

    __tablename__ = "approval_decisions"
    __table_args__ = (
        sa.UniqueConstraint("request_id", "step", name="uq_approval_decisions_request_step"),
        sa.UniqueConstraint("request_id", "staff_id", name="uq_approval_decisions_request_staff"),  # four eyes
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("approval_requests.id"))
    step: Mapped[int] = mapped_column(sa.Integer)
    staff_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_members.id"), index=True)
    verdict: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str] = mapped_column(sa.String(500), default="")
    fields: Mapped[list] = mapped_column(sa.JSON, default=list)  # field names a rejection asks to correct
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    request: Mapped[ApprovalRequest] = relationship(back_populates="decisions")
    staff = relationship("StaffMember")

    @property
    def verdict_label(self) -> str:
        return VERDICT_LABELS[Verdict(self.verdict)]
