"""The status machines of counter personalisations and PIN deliveries; nothing else assigns these statuses."""

from __future__ import annotations

from wxbackend.core.states import IllegalTransition, StateMachine
from wxbackend.counter.models import (
    DELIVERY_STATUS_LABELS,
    PERSONALISATION_STATUS_LABELS,
    DeliveryStatus,
    PersonalisationStatus,
)


class IllegalPersonalisationTransition(IllegalTransition):
    code = "illegal_personalisation_transition"


class IllegalDeliveryTransition(IllegalTransition):
    code = "illegal_delivery_transition"


P = PersonalisationStatus
PERSONALISATION_STATES = StateMachine({
    P.ISSUED: {P.WRITTEN, P.VOIDED},
    P.WRITTEN: set(),
    P.VOIDED: set(),
}, noun="制证", labels=PERSONALISATION_STATUS_LABELS, error=IllegalPersonalisationTransition)

D = DeliveryStatus
DELIVERY_STATES = StateMachine({
    D.PENDING: {D.DELIVERED, D.FAILED},
    D.DELIVERED: set(),
    D.FAILED: set(),
}, noun="PIN码发送", labels=DELIVERY_STATUS_LABELS, error=IllegalDeliveryTransition)
