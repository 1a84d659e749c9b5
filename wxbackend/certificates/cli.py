"""`flask ca revoke`: the certificates domain's command, added to the `ca` group by create_app, because a
customer's certificate and the CA's record of it are revoked together (one status, issue 14)."""

from __future__ import annotations

import click

from wxbackend.ca.cli import refusal_is_an_error
from wxbackend.certificates.revocation import REVOCATION_REASONS, revoke
from wxbackend.core.db import db


@click.command("revoke")
@refusal_is_an_error
@click.argument("serial")
@click.option("--reason", default=None, type=click.Choice(REVOCATION_REASONS),
              help="Omitted: no reason code on the CRL entry.")
def revoke_command(serial: str, reason: str | None):
    """Revoke an issued certificate by its hex serial: a customer's certificate (its status on every page, in
    eligibility, binding and renewal) and the CA's record (the CRL) together."""
    record = revoke(serial, reason, "cli")
    db.session.commit()
    click.echo(f"{record.serial}: {record.status}")
