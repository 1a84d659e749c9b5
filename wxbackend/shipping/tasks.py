"""Tracking jobs: the sweep (cron) hands rq one job per shipment due for a query; each re-checks under the
shipment's row lock, so running either twice is harmless."""

from __future__ import annotations

from wxbackend.core.jobs import enqueue_now, job
from wxbackend.shipping import service


@job("default", timeout=300)
def track_shipments() -> int:
    """Every 10 minutes (cron): queue `track_shipment` for each shipment out with the carrier, not signed for and
    not asked about within 30 minutes, found in keyset batches."""
    queued, after = 0, 0
    while ids := service.due_shipment_ids(after):
        for shipment_id in ids:
            enqueue_now("shipping.track_shipment", shipment_id)
        queued, after = queued + len(ids), ids[-1]
    return queued


@job("default", timeout=60)
def track_shipment(shipment_id: int) -> str:
    """Ask the carrier about one shipment (at most once per 30 minutes); 签收 completes the order."""
    return service.track(shipment_id)
