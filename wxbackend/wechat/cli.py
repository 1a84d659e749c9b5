"""`flask wx menu-sync` / `flask wx menu-show`: the official account's menu."""

import json

import click
from flask import current_app
from flask.cli import AppGroup

from wxbackend.integrations.wechat import WeChatError
from wxbackend.wechat.menu import MenuInvalid, build_menu, sync_menu

wx_cli = AppGroup("wx", help="WeChat official account.")


@wx_cli.command("menu-show")
def menu_show_command():
    """Print the menu JSON that menu-sync would push (validated)."""
    try:
        menu = build_menu(current_app.config["PUBLIC_BASE_URL"])
    except MenuInvalid as invalid:
        raise click.ClickException("menu invalid: " + "; ".join(invalid.problems)) from None
    click.echo(json.dumps(menu, ensure_ascii=False, indent=2))


@wx_cli.command("menu-sync")
def menu_sync_command():
    """Validate the menu defined in code and push it to WeChat; prints what WeChat holds afterwards."""

    try:
        held = sync_menu(current_app.config["PUBLIC_BASE_URL"])
    except MenuInvalid as invalid:
        raise click.ClickException("menu invalid, nothing sent: " + "; ".join(invalid.problems)) from None
    except WeChatError as failed:
        raise click.ClickException(f"WeChat refused the menu: {failed}") from None
    buttons = held.get("menu", {}).get("button", [])
    click.echo(f"menu synced: {len(buttons)} buttons, "
               f"{sum(len(b.get('sub_button', [])) for b in buttons)} sub-buttons")
