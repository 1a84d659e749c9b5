"""The status machine of 金融认证 attempts: recorded, then paid (awaiting the code) or not payable; then verified or
failed. Nothing moves after that (a new attempt is a new row)."""

from __future__ import annotations

from wxbackend.applications.models import LIVENESS_LABELS, VERIFICATION_LABELS
from wxbackend.applications.models import LivenessStatus as L
from wxbackend.applications.models import VerificationStatus as V
from wxbackend.core.states import IllegalTransition, StateMachine


class IllegalVerificationTransition(IllegalTransition):
    code = "illegal_verification_transition"


VERIFICATION_STATES = StateMachine({
    V.PAYOUT_PENDING: {V.AWAITING_CODE, V.PAYOUT_FAILED},
    V.AWAITING_CODE: {V.VERIFIED, V.FAILED},
    V.VERIFIED: set(),
    V.FAILED: set(),
    V.PAYOUT_FAILED: set(),
}, noun="金融认证", labels=VERIFICATION_LABELS, error=IllegalVerificationTransition)


class IllegalLivenessTransition(IllegalTransition):
    code = "illegal_liveness_transition"


LIVENESS_STATES = StateMachine({
    L.PENDING: {L.PASSED, L.FAILED, L.EXPIRED},
    L.PASSED: set(),
    L.FAILED: set(),
    L.EXPIRED: set(),
}, noun="活体认证", labels=LIVENESS_LABELS, error=IllegalLivenessTransition)
