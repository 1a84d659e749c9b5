"""The real helper process keeps what it must across a restart (used tickets, wrong PINs), refuses tickets issued in
the future, and answers malformed or deeply nested JSON with invalid_request, never as a key failure."""

import base64
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from helper_protocol.tickets import b64url, encode_ticket
from tests.conftest import TICKET_SEED
from tests.support.flows import helper_sign, pc_start
from ukey_helper.store import STORE_NAME

PIN = "12345678"
WRONG = "99999999"


def restart(start_helper, helper):
    """Stop the helper process as a reboot or a crash would, and start it again on the same data directory."""
    helper.process.kill()
    helper.process.wait(timeout=10)
    return start_helper()


def test_a_used_ticket_stays_used_after_a_restart(pc, helper, start_helper, tmp_path):
    ticket = pc_start(pc, helper)["ticket"]
    assert helper_sign(helper, ticket).status_code == 200
    assert (tmp_path / "helper-data" / STORE_NAME).is_file()
    again = restart(start_helper, helper)
    replay = helper_sign(again, ticket)
    assert replay.status_code == 403 and replay.json()["code"] == "ticket_invalid"
    assert "已使用" in replay.json()["message"] and "signature" not in replay.json()
    assert helper_sign(again, pc_start(pc, again)["ticket"]).status_code == 200  # a fresh one works


def test_wrong_pins_are_still_counted_after_a_restart(pc, helper, start_helper):
    assert helper_sign(helper, pc_start(pc, helper)["ticket"], WRONG).json()["tries_left"] == 2
    assert helper_sign(helper, pc_start(pc, helper)["ticket"], WRONG).json()["tries_left"] == 1
    again = restart(start_helper, helper)
    third = helper_sign(again, pc_start(pc, again)["ticket"], WRONG)
    assert third.status_code == 401 and third.json()["tries_left"] == 0
    again = restart(start_helper, again)
    refused = helper_sign(again, pc_start(pc, again)["ticket"], PIN)
    assert refused.status_code == 429 and refused.json()["code"] == "pin_attempts_exceeded"
    assert refused.json()["message"] == "PIN码尝试次数过多，请15分钟后再试"


def signed_ticket(demo_key, *, iat_ahead: int) -> str:
    key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(TICKET_SEED))
    now = int(time.time())
    payload = {"v": 1, "jti": f"future-{iat_ahead}-{now}", "op": "sign", "ch": b64url(b"c" * 32),
               "cs": demo_key.certificate.serial, "ts": demo_key.serial, "iat": now + iat_ahead,
               "exp": now + iat_ahead + 300}
    return encode_ticket(payload, key)


def test_a_ticket_issued_in_the_future_is_refused(helper, demo_key):
    response = helper_sign(helper, signed_ticket(demo_key, iat_ahead=600))
    assert response.status_code == 403 and response.json()["code"] == "ticket_invalid"
    assert "时间" in response.json()["message"] and "signature" not in response.json()
    # a clock a few seconds off is tolerated
    assert helper_sign(helper, signed_ticket(demo_key, iat_ahead=10)).status_code == 200


DEEP = "[" * 30000 + "]" * 30000
MALFORMED = [
    DEEP,
    '{"ticket": ' + "[" * 20000 + "]" * 20000 + ', "pin": "12345678"}',
    '{"ticket": ' + '{"a":' * 10000 + "1" + "}" * 10000 + "}",
    '{"ticket": "x", "pin": ',
    "[]",
    '"ticket"',
    "1" * 5000,
    b'{"pin": "\xff\xfe"}',
]


@pytest.mark.parametrize("path", ["/v1/sign", "/v1/keygen", "/v1/install", "/v1/cleanup"])
def test_malformed_or_deeply_nested_json_is_invalid_request(pc, helper, path):
    for body in MALFORMED:
        response = helper.request("POST", path, data=body if isinstance(body, bytes) else body.encode(),
                                  headers={"Content-Type": "application/json"})
        assert response.status_code == 400, (body[:40], response.status_code, response.text[:200])
        assert response.json()["code"] == "invalid_request"
        assert response.json()["message"] == "请求格式无效（需要 JSON 对象）"
    not_json = helper.request("POST", path, data="ticket=x", headers={"Content-Type": "text/plain"})
    assert not_json.status_code == 400 and not_json.json()["code"] == "invalid_request"
    # nothing reached the key: the first wrong PIN afterwards is still the first of three
    assert helper_sign(helper, pc_start(pc, helper)["ticket"], WRONG).json()["tries_left"] == 2
