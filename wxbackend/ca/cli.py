"""`flask ca …` commands: set up the CA, revoke, and the root CA's ceremonies (README "The CA")."""

from __future__ import annotations

import functools

import click
from flask import current_app
from flask.cli import AppGroup

from wxbackend.ca.service import (
    init_ca,
    issuing_certificate_is_revocable,
    load_root_signer,
    reissue_issuing_certificate,
    revoke_certificate,
    revoke_issuing_ca,
    serial_hex,
    sign_root_crl,
)
from wxbackend.core import uow
from wxbackend.core.db import db
from wxbackend.core.errors import DomainError

ca_cli = AppGroup("ca", help="Local CA: set up, revoke, the root CA's CRL.")
REASON_CHOICES = click.Choice(["unspecified", "key_compromise", "superseded", "cessation_of_operation"])


def refusal_is_an_error(command):
    """A refusal (missing root key, unknown serial…) ends the command with its Chinese message and exit code 1,
    nothing committed."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except DomainError as refused:
            uow.rollback()
            raise click.ClickException(refused.message) from None

    return run


ROOT_KEY_OPTION = click.option("--root-key", "root_key", type=click.Path(dir_okay=False),
                               help="The root CA key file (offline media); default: the one in CA_DIR.")


@ca_cli.command("init")
@refusal_is_an_error
@click.option("--root-key-out", "root_key_out", type=click.Path(dir_okay=False, writable=True),
              help="Write the root CA key here (removable media) instead of CA_DIR: only the issuing key stays "
                   "online.")
def init_command(root_key_out: str | None):
    """Create the root and issuing CA (once) and the root's first CRL."""
    config = current_app.config
    if not init_ca(config, root_key_out):
        click.echo(f"CA already present in {config['CA_DIR']}; nothing changed")
        if not issuing_certificate_is_revocable(config):
            click.echo("the issuing CA certificate has no CRL distribution point: run `flask ca reissue-issuing` "
                       "and `flask ca root-crl` (README, The CA)")
        return
    root_crl = sign_root_crl(config, load_root_signer(config, root_key_out))
    db.session.commit()
    click.echo(f"CA created in {config['CA_DIR']} (signer: {config['CA_SIGNER']})")
    click.echo(f"root CRL {root_crl.crl_number} signed, next update {root_crl.next_update:%Y-%m-%d}")
    if root_key_out:
        click.echo(f"root key written to {root_key_out}: keep it offline; CA_DIR holds no root key")


@ca_cli.command("revoke")
@refusal_is_an_error
@click.argument("serial")
@click.option("--reason", default=None, type=REASON_CHOICES, help="Omitted: no reason code on the CRL entry.")
def revoke_command(serial: str, reason: str | None):
    """Revoke an issued certificate by its hex serial."""
    record = revoke_certificate(serial, reason)
    db.session.commit()
    click.echo(f"{record.serial}: {record.status}")


@ca_cli.command("root-crl")
@refusal_is_an_error
@ROOT_KEY_OPTION
def root_crl_command(root_key: str | None):
    """Sign the root CA's CRL (at least every six months, and after revoke-issuing)."""
    record = sign_root_crl(current_app.config, load_root_signer(current_app.config, root_key))
    db.session.commit()
    click.echo(f"root CRL {record.crl_number} signed, next update {record.next_update:%Y-%m-%d}")


@ca_cli.command("reissue-issuing")
@refusal_is_an_error
@ROOT_KEY_OPTION
def reissue_issuing_command(root_key: str | None):
    """Re-issue the issuing CA certificate (same key) with today's profile; restart the app processes after."""
    certificate = reissue_issuing_certificate(current_app.config, load_root_signer(current_app.config, root_key))
    click.echo(f"issuing CA certificate {serial_hex(certificate.serial_number)} written; restart the backend")


@ca_cli.command("revoke-issuing")
@refusal_is_an_error
@click.argument("serial")
@click.option("--reason", default=None, type=click.Choice(["ca_compromise", "key_compromise", "superseded",
                                                           "cessation_of_operation"]))
def revoke_issuing_command(serial: str, reason: str | None):
    """Revoke an issuing CA certificate; it is listed once `flask ca root-crl` signs the next root CRL."""
    record = revoke_issuing_ca(current_app.config, serial, reason)
    db.session.commit()
    click.echo(f"{record.serial}: revoked; run `flask ca root-crl` to publish it")
