"""The cron table, read by rq's own scheduler: `rq cron jobs/cron.py -u $REDIS_URL`."""

from rq import cron

from jobs.certificates import mark_expired

cron.register(mark_expired, "default", interval=3600, name="mark-expired-certificates")
