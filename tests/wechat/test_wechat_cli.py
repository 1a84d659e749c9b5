"""`flask wx menu-show` and `flask tickets public-key`."""

from __future__ import annotations

import base64
import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from helper_protocol.tickets import split_ticket
from wxbackend.wechat.menu import build_menu


def test_menu_show_prints_the_menu_and_sends_nothing(app, wechat):
    result = app.test_cli_runner().invoke(args=["wx", "menu-show"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == build_menu(app.config["PUBLIC_BASE_URL"])
    assert "我的数字证书" in result.output  # Chinese as it is, not \\u escapes
    assert wechat.calls() == {}


def test_tickets_public_key_verifies_a_ticket(app, db_session):
    from wxbackend.tickets.service import issue_ticket

    result = app.test_cli_runner().invoke(args=["tickets", "public-key"])
    assert result.exit_code == 0, result.output
    raw = base64.b64decode(result.output.strip(), validate=True)
    assert len(raw) == 32
    key = Ed25519PublicKey.from_public_bytes(raw)
    signed, signature = split_ticket(issue_ticket("sign", token_serial="0123456789abcdef").ticket)
    key.verify(signature, signed)  # raises if the printed key did not sign it
