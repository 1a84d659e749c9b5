"""The status machine of what the CA issued (DESIGN §6): an issued certificate is revoked, or voided when it was
never installed; both are on the CRL and final. A hold (挂失) is on the CRL as certificateHold: it is lifted (back to
issued, absent from the next CRL: removeFromCRL) or becomes a revocation."""

from __future__ import annotations

from wxbackend.ca.models import (
    CMP_TRANSACTION_STATUS_LABELS,
    ISSUED_STATUS_LABELS,
    CmpTransactionStatus,
    IssuedStatus,
)
from wxbackend.core.states import IllegalTransition, StateMachine


class IllegalIssuedTransition(IllegalTransition):
    code = "illegal_issued_transition"


ISSUED_STATES = StateMachine({
    IssuedStatus.ISSUED: {IssuedStatus.REVOKED, IssuedStatus.VOIDED, IssuedStatus.ON_HOLD},
    IssuedStatus.ON_HOLD: {IssuedStatus.ISSUED, IssuedStatus.REVOKED},
    IssuedStatus.REVOKED: set(),
    IssuedStatus.VOIDED: set(),
}, noun="签发记录", labels=ISSUED_STATUS_LABELS, error=IllegalIssuedTransition)


class IllegalCmpTransition(IllegalTransition):
    code = "illegal_cmp_transition"


CMP_STATES = StateMachine({
    CmpTransactionStatus.SENT: {CmpTransactionStatus.CERTIFIED, CmpTransactionStatus.CONFIRMED,
                                CmpTransactionStatus.REFUSED, CmpTransactionStatus.ABANDONED},
    CmpTransactionStatus.CERTIFIED: {CmpTransactionStatus.CONFIRMED, CmpTransactionStatus.REFUSED,
                                     CmpTransactionStatus.ABANDONED},
    CmpTransactionStatus.CONFIRMED: set(),
    CmpTransactionStatus.REFUSED: set(),
    CmpTransactionStatus.ABANDONED: set(),
}, noun="CMP 交易", labels=CMP_TRANSACTION_STATUS_LABELS, error=IllegalCmpTransition)
