"""`flask staff create`: the first 管理员 (and any account, from a shell on the server)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from wxbackend.core.db import db
from wxbackend.core.errors import DomainError
from wxbackend.staff import service
from wxbackend.staff.models import Role

staff_cli = AppGroup("staff", help="Staff accounts of the console (/admin).")


@staff_cli.command("create")
@click.argument("username")
@click.option("--name", "display_name", required=True, help="the person's name as the console shows it")
@click.option("--role", "roles", multiple=True, type=click.Choice([r.value for r in Role]), default=["admin"],
              show_default=True, help="repeat for several roles")
@click.option("--password-stdin", is_flag=True, help="read the one-time password from standard input")
def create_command(username: str, display_name: str, roles: tuple[str, ...], password_stdin: bool):
    """Create a staff account and print its one-time password (TOTP is enrolled at the first sign-in)."""
    password = click.get_text_stream("stdin").readline().strip() if password_stdin else None
    try:
        staff, one_time = service.create_staff(None, username, display_name, list(roles), password=password)
    except DomainError as refused:
        db.session.rollback()
        click.echo(f"未创建：{refused.message}", err=True)
        raise SystemExit(1) from None
    db.session.commit()
    click.echo(f"已创建员工账户 {staff.username}（{staff.role_labels}）")
    if not password_stdin:
        click.echo(f"临时密码：{one_time}（首次登录须绑定动态口令并修改密码）")
