"""`flask invoices undelivered`, `flask invoices requeue` and `flask invoices to-post`: staff tools for the 24-hour
promise and the paper invoices to post."""

from __future__ import annotations

from datetime import timedelta

import click
from flask.cli import AppGroup

from wxbackend.core.db import db
from wxbackend.core.times import local_minute
from wxbackend.invoices import issuing

invoices_cli = AppGroup("invoices", help="Invoices (我的发票): what has not reached the customer, queue it again.")


@invoices_cli.command("undelivered")
def undelivered_command():
    """List invoices requested but not yet mailed (still pending, or issued and not mailed)."""
    found = issuing.undelivered_invoices(timedelta(0))
    for invoice in found:
        click.echo(f"#{invoice.id}  {invoice.request_no}  {invoice.status_label}  {invoice.amount_yuan}元  "
                   f"{invoice.title}  申请于{local_minute(invoice.created_at)}")
    click.echo(f"共{len(found)}张未送达")


@invoices_cli.command("requeue")
def requeue_command():
    """Queue issuing (pending) or mailing (issued, not mailed) again for every undelivered invoice; the jobs
    re-check state, so an invoice already done is left alone."""
    queued = issuing.requeue_undelivered()
    db.session.commit()  # the jobs are enqueued when the unit of work commits
    click.echo(f"已重新排队{len(queued)}张：{'、'.join(queued)}" if queued else "没有未送达的发票")


@invoices_cli.command("to-post")
def to_post_command():
    """List issued paper invoices still to post, with each recipient in full (for the waybill)."""
    found = issuing.to_post()
    for invoice, recipient in found:
        click.echo(f"#{invoice.id}  {invoice.invoice_no}  {invoice.amount_yuan}元  {invoice.title}  "
                   f"收件人：{recipient['name']} {recipient['mobile']} {recipient['address']}")
    click.echo(f"共{len(found)}张纸质发票待寄出")
