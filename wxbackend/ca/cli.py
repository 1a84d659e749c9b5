"""`flask ca …` commands."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from wxbackend.ca.service import init_ca

ca_cli = AppGroup("ca", help="Local CA: set up (a customer's certificate is revoked with `flask certificates revoke`).")


@ca_cli.command("init")
def init_command():
    """Create the root and issuing CA (once)."""
    if init_ca(current_app.config):
        click.echo(f"CA created in {current_app.config['CA_DIR']} (signer: {current_app.config['CA_SIGNER']})")
    else:
        click.echo(f"CA already present in {current_app.config['CA_DIR']}; nothing changed")
