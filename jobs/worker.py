"""Worker entry point: `python -m jobs.worker [--burst]` listens on the configured queues.

Jobs run inside the app this process builds once (`core.jobs.worker_app`), so each has an app context. The worker
also runs rq's scheduler (retries with an interval wait in it; any number of workers may run it, one at a time
holds each queue's scheduler lock). Job descriptions are not logged: a job's log line names its queue and id.
"""

from __future__ import annotations

import argparse

from rq import Queue, Worker

from wxbackend import create_app
from wxbackend.core import jobs
from wxbackend.core.redis import get_redis


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="jobs.worker")
    parser.add_argument("--burst", action="store_true", help="stop when the queues are empty")
    args = parser.parse_args(argv)
    jobs.set_app_factory(create_app)
    app = jobs.worker_app()
    with app.app_context():
        connection = get_redis()
        queues = [Queue(name, connection=connection) for name in app.config["RQ_QUEUES"]]
        Worker(queues, connection=connection, log_job_description=False).work(burst=args.burst,
                                                                          with_scheduler=True)


if __name__ == "__main__":
    main()
