"""`flask ca …` commands."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from wxbackend.ca.ocsp import ensure_ocsp_signer
from wxbackend.ca.service import init_ca, load_authority, revoke_certificate
from wxbackend.core.db import db

ca_cli = AppGroup("ca", help="Local CA: set up, revoke.")


@ca_cli.command("init")
def init_command():
    """Create the root and issuing CA (once)."""
    if init_ca(current_app.config):
        click.echo(f"CA created in {current_app.config['CA_DIR']} (signer: {current_app.config['CA_SIGNER']})")
    else:
        click.echo(f"CA already present in {current_app.config['CA_DIR']}; nothing changed")
    _ocsp_signer(force=False, quiet=True)


@ca_cli.command("ocsp-signer")
@click.option("--force", is_flag=True, help="Issue a new OCSP-signing certificate even if the current one is fresh.")
def ocsp_signer_command(force: bool):
    """Create or renew the delegated OCSP-signing certificate (run daily; renews CA_OCSP_RENEW_DAYS before its end)."""
    _ocsp_signer(force=force)


def _ocsp_signer(force: bool, quiet: bool = False) -> None:
    # this CA_DIR's authority, not one a long-lived app may have cached
    record = ensure_ocsp_signer(current_app.config, force=force, authority=load_authority(current_app.config))
    db.session.commit()
    if record is None:
        if not quiet:
            click.echo("OCSP signer is current; nothing changed")
    else:
        click.echo(f"OCSP signer issued: serial {record.serial}, valid until {record.not_after:%Y-%m-%d %H:%M} UTC")


@ca_cli.command("revoke")
@click.argument("serial")
@click.option("--reason", default="unspecified", type=click.Choice(["unspecified", "key_compromise", "superseded",
                                                                     "cessation_of_operation"]))
def revoke_command(serial: str, reason: str):
    """Revoke an issued certificate by its hex serial."""
    record = revoke_certificate(serial, reason)
    db.session.commit()
    click.echo(f"{record.serial}: {record.status}")
