"""`flask certificates …` commands."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from wxbackend.certificates.revocation import REVOCATION_REASONS, revoke
from wxbackend.core.db import db

certificates_cli = AppGroup("certificates", help="Customer certificates: revoke.")


@certificates_cli.command("revoke")
@click.argument("serial")
@click.option("--reason", default="unspecified", type=click.Choice(REVOCATION_REASONS))
def revoke_command(serial: str, reason: str):
    """Revoke a customer's certificate by its hex serial: its status (every page, eligibility, binding, renewal)
    and the CA's record (the CRL) together."""
    certificate = revoke(serial, reason, "cli")
    db.session.commit()
    click.echo(f"{certificate.serial}: {certificate.status}")
