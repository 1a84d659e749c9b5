"""`flask reminders scan [--date YYYY-MM-DD]`: run the expiry-reminder scan now (after an outage of the cron, or to
catch up a missed day: the unique key makes a day already scanned record nothing)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from wxbackend.core.db import db
from wxbackend.reminders import service

reminders_cli = AppGroup("reminders", help="Expiry reminders (到期提醒).")


@reminders_cli.command("scan")
@click.option("--date", "day", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="The day to scan as, in Asia/Shanghai (default: today).")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=1000, show_default=True)
def scan_command(day, batch_size: int):
    """Record the reminders due on a day and queue their deliveries."""
    created = service.scan(day.date() if day else None, batch_size=batch_size)
    db.session.commit()  # the deliveries are handed to rq when the unit of work commits
    click.echo(f"已记录{created}条到期提醒")
