"""Helper tickets: what the helper accepts and refuses (in-process verifier, no token needed)."""

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from helper_protocol.tickets import b64url, encode_ticket, unb64url
from ukey_helper.errors import HelperError
from ukey_helper.tickets import TicketVerifier

BACKEND_KEY = Ed25519PrivateKey.generate()
OTHER_KEY = Ed25519PrivateKey.generate()


def payload(**overrides):
    now = int(time.time())
    data = {"v": 1, "jti": "jti-0001-abcdef", "op": "sign", "ch": b64url(b"c" * 32), "cs": "ABCDEF",
            "ts": "1234567890abcdef", "iat": now, "exp": now + 300}
    data.update(overrides)
    return data


def verifier():
    return TicketVerifier([BACKEND_KEY.public_key()])


def refused(ticket, op="sign", code="ticket_invalid", v=None):
    with pytest.raises(HelperError) as error:
        (v or verifier()).verify(ticket, op)
    assert error.value.code == code
    return error.value


def test_a_good_ticket_is_accepted_once():
    v = verifier()
    ticket = v.verify(encode_ticket(payload(), BACKEND_KEY), "sign")
    assert ticket.challenge == b"c" * 32 and ticket.cert_serial == "ABCDEF"
    assert ticket.token_serial == "1234567890abcdef"
    v.consume(ticket)
    assert "已使用" in refused(encode_ticket(payload(), BACKEND_KEY), v=v).message


def test_forged_by_another_key_is_refused():
    refused(encode_ticket(payload(), OTHER_KEY))


def test_tampered_payload_is_refused():
    body, signature = encode_ticket(payload(), BACKEND_KEY).split(".")
    changed = json.loads(unb64url(body))
    changed["ts"] = "ffffffffffffffff"
    refused(b64url(json.dumps(changed).encode()) + "." + signature)


def test_a_ticket_issued_in_the_future_is_refused_beyond_30_seconds():
    now = int(time.time())
    assert "时间" in refused(encode_ticket(payload(iat=now + 120, exp=now + 400), BACKEND_KEY)).message
    assert verifier().verify(encode_ticket(payload(iat=now + 20, exp=now + 300), BACKEND_KEY), "sign").iat == now + 20


def test_expired_ticket_is_refused():
    now = int(time.time())
    refused(encode_ticket(payload(iat=now - 400, exp=now - 100), BACKEND_KEY), code="ticket_expired")


def test_ticket_for_another_operation_is_refused():
    refused(encode_ticket(payload(op="keygen"), BACKEND_KEY), op="sign")


def test_overlong_lifetime_is_refused():
    now = int(time.time())
    refused(encode_ticket(payload(iat=now, exp=now + 3600), BACKEND_KEY))


@pytest.mark.parametrize("garbage", [None, 12, "", "abc", "a.b.c", "!!!.???", "x" * 5000,
                                     base64.b64encode(b"{}").decode() + ".AAAA"])
def test_garbage_is_refused(garbage):
    refused(garbage)
