"""The cron table, read by rq's own scheduler: `rq cron jobs/cron.py -u $REDIS_URL`."""

from rq import cron

from wxbackend.applications.tasks import expire_fin_verifications
from wxbackend.ca.tasks import renew_ocsp_signer
from wxbackend.certificates.tasks import mark_expired
from wxbackend.core.jobs import sweep_outbox
from wxbackend.invoices.tasks import alert_overdue_invoices
from wxbackend.payments.tasks import query_unconfirmed_payments, query_unconfirmed_refunds
from wxbackend.reminders.tasks import scan_due as scan_expiry_reminders
from wxbackend.shipping.tasks import track_shipments

cron.register(mark_expired, "default", interval=3600, name="mark-expired-certificates")
cron.register(query_unconfirmed_payments, "default", interval=300, name="query-unconfirmed-payments")
cron.register(query_unconfirmed_refunds, "default", interval=300, name="query-unconfirmed-refunds")
cron.register(alert_overdue_invoices, "default", interval=1800, name="alert-overdue-invoices")
cron.register(sweep_outbox, "default", interval=60, name="sweep-outbox")
cron.register(renew_ocsp_signer, "default", interval=86400, name="renew-ocsp-signer")
cron.register(expire_fin_verifications, "default", interval=3600, name="expire-fin-verifications")
# daily at 01:00 UTC = 09:00 Asia/Shanghai: reminders arrive in the morning (a second run that day records nothing)
cron.register(scan_expiry_reminders, "default", cron="0 1 * * *", name="scan-expiry-reminders")
cron.register(track_shipments, "default", interval=600, name="track-shipments")
