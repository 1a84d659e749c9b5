"""`flask demo make-key`: a SoftHSM2 token that looks like a customer's key."""

from __future__ import annotations

from datetime import datetime, time

import click
from flask.cli import AppGroup

from wxbackend.core.db import db
from wxbackend.core.times import SHANGHAI
from wxbackend.demo.service import make_demo_key

demo_cli = AppGroup("demo", help="Development helpers.")


def parse_app(value: str) -> tuple[str, datetime]:
    name, sep, date = value.rpartition(":")
    if not sep or not name:
        raise click.BadParameter("格式: 应用名称:YYYY-MM-DD")
    try:
        day = datetime.strptime(date, "%Y-%m-%d").date()
    except ValueError:
        raise click.BadParameter(f"日期无效: {date}") from None
    return name, datetime.combine(day, time(23, 59, 59), SHANGHAI)


@demo_cli.command("make-key")
@click.option("--org", "organisation", required=True, help="机构名称 (O and CN)")
@click.option("--expires-in-days", type=int, default=30, show_default=True)
@click.option("--legal-rep", "legal_representative", default="张三", show_default=True, help="法定代表人")
@click.option("--city", "locality", default="广州市", show_default=True)
@click.option("--province", default="广东省", show_default=True)
@click.option("--email", default="", help="电子邮件")
@click.option("--credit-code", default="", help="统一社会信用代码 (18 characters, GB 32100)")
@click.option("--app", "apps", multiple=True, help="应用名称:到期日 (YYYY-MM-DD); repeatable")
@click.option("--label", default="DEMO UKEY", show_default=True, help="token label")
@click.option("--pin", default="12345678", show_default=True)
@click.option("--so-pin", default="87654321", show_default=True)
def make_key_command(organisation, expires_in_days, legal_representative, locality, province, email, credit_code,
                     apps, label, pin, so_pin):
    """Create a demo U-KEY on SoftHSM2 with a certificate from the local CA."""
    parsed_apps = [parse_app(a) for a in apps] or None
    key = make_demo_key(organisation=organisation, expires_in_days=expires_in_days,
                        legal_representative=legal_representative, locality=locality, province=province,
                        email=email, credit_code=credit_code, label=label, pin=pin, so_pin=so_pin,
                        apps=parsed_apps)
    db.session.commit()
    cert = key.certificate
    click.echo(f"demo key: medium number {key.serial} (PIN {key.pin})")
    click.echo(f"certificate {cert.serial}: {cert.subject_o}, valid until "
               f"{cert.not_after.astimezone(SHANGHAI):%Y-%m-%d %H:%M} (Asia/Shanghai)")
