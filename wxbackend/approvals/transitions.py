"""The status machine of approval requests (DESIGN §15): pending until approved (the last step), rejected (any
step) or voided (a new revision of its object); nothing moves after that."""

from __future__ import annotations

from wxbackend.approvals.models import APPROVAL_STATUS_LABELS, ApprovalStatus
from wxbackend.core.states import IllegalTransition, StateMachine


class IllegalApprovalTransition(IllegalTransition):
    code = "illegal_approval_transition"


A = ApprovalStatus
APPROVAL_STATES = StateMachine({
    A.PENDING: {A.APPROVED, A.REJECTED, A.VOIDED},
    A.APPROVED: set(),
    A.REJECTED: set(),
    A.VOIDED: set(),
}, noun="审批申请", labels=APPROVAL_STATUS_LABELS, error=IllegalApprovalTransition)
