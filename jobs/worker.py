"""Worker entry point: `python -m jobs.worker [--burst]` listens on the configured queues.

Each job builds or reuses the app (see `jobs.app_job`), so jobs run inside an app context.
"""

from __future__ import annotations

import argparse

from rq import Queue, Worker

from jobs import worker_app
from wxbackend.core.redis import get_redis


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="jobs.worker")
    parser.add_argument("--burst", action="store_true", help="stop when the queues are empty")
    args = parser.parse_args(argv)
    app = worker_app()
    with app.app_context():
        connection = get_redis()
        queues = [Queue(name, connection=connection) for name in app.config["RQ_QUEUES"]]
        Worker(queues, connection=connection).work(burst=args.burst, with_scheduler=False)


if __name__ == "__main__":
    main()
