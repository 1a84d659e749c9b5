"""`flask tickets public-key`: what the helper's HELPER_TICKET_PUBLIC_KEYS must hold."""

import click
from flask.cli import AppGroup

from wxbackend.tickets.service import public_key_b64

tickets_cli = AppGroup("tickets", help="Helper tickets.")


@tickets_cli.command("public-key")
def public_key_command():
    """Print the base64 Ed25519 public key that verifies this backend's helper tickets."""
    click.echo(public_key_b64())
