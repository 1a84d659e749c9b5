"""POST /v1/sign on the real helper with a SoftHSM2 key: tickets, PIN rules, and the PIN never leaking."""

import base64
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from helper_protocol.tickets import b64url, encode_ticket
from tests.support.flows import helper_sign, pc_start
from ukey_helper.app import HELPER

PIN = "12345678"
WRONG = "99999999"


def test_sign_returns_a_signature_by_the_certificates_key(pc, helper, demo_key):
    started = pc_start(pc, helper)
    response = helper_sign(helper, started["ticket"])
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:5000"
    body = response.json()
    assert set(body) == {"signature", "certificate_serial", "medium_number"}
    cert = x509.load_pem_x509_certificate(demo_key.certificate.pem.encode())
    from wxbackend.tickets.service import take_ticket

    challenge_b64 = take_ticket(started["ticket_id"], "sign")["challenge"]
    challenge = base64.urlsafe_b64decode(challenge_b64 + "=" * (-len(challenge_b64) % 4))
    cert.public_key().verify(base64.b64decode(body["signature"]), challenge, padding.PKCS1v15(), hashes.SHA256())


def test_wrong_pin_shows_tries_left_and_gives_no_signature(pc, helper):
    first = helper_sign(helper, pc_start(pc, helper)["ticket"], WRONG)
    assert first.status_code == 401
    assert first.json() == {"code": "pin_incorrect", "message": "PIN码错误，还可尝试2次", "tries_left": 2,
                            "helper": HELPER}
    second = helper_sign(helper, pc_start(pc, helper)["ticket"], WRONG).json()
    assert second["tries_left"] == 1
    third = helper_sign(helper, pc_start(pc, helper)["ticket"], WRONG).json()
    assert third["tries_left"] == 0
    # the helper's own limit protects the token's counter, even from the right PIN, for 15 minutes
    fourth = helper_sign(helper, pc_start(pc, helper)["ticket"], PIN)
    assert fourth.status_code == 429 and fourth.json()["code"] == "pin_attempts_exceeded"
    assert "signature" not in fourth.json()


def test_right_pin_clears_earlier_failures(pc, helper):
    helper_sign(helper, pc_start(pc, helper)["ticket"], WRONG)
    assert helper_sign(helper, pc_start(pc, helper)["ticket"], PIN).status_code == 200
    assert helper_sign(helper, pc_start(pc, helper)["ticket"], WRONG).json()["tries_left"] == 2


def test_replayed_ticket_is_refused(pc, helper):
    ticket = pc_start(pc, helper)["ticket"]
    assert helper_sign(helper, ticket).status_code == 200
    replay = helper_sign(helper, ticket)
    assert replay.status_code == 403 and replay.json()["code"] == "ticket_invalid"


def test_ticket_spent_on_a_wrong_pin_cannot_be_reused(pc, helper):
    ticket = pc_start(pc, helper)["ticket"]
    helper_sign(helper, ticket, WRONG)
    assert helper_sign(helper, ticket).json()["code"] == "ticket_invalid"


def test_expired_ticket_is_refused(pc, helper, demo_key, app):
    now = int(time.time())
    from wxbackend.tickets.service import signing_key

    ticket = encode_ticket({"v": 1, "jti": "expired-ticket-01", "op": "sign", "ch": b64url(b"x" * 32),
                            "cs": demo_key.certificate.serial, "ts": demo_key.serial, "iat": now - 301,
                            "exp": now - 1}, signing_key())
    response = helper_sign(helper, ticket)
    assert response.status_code == 403 and response.json()["code"] == "ticket_expired"


def test_forged_ticket_is_refused(helper, demo_key):
    now = int(time.time())
    forged = encode_ticket({"v": 1, "jti": "forged-ticket-0001", "op": "sign", "ch": b64url(b"x" * 32),
                            "cs": demo_key.certificate.serial, "ts": demo_key.serial, "iat": now, "exp": now + 60},
                           Ed25519PrivateKey.generate())
    response = helper_sign(helper, forged)
    assert response.status_code == 403 and response.json()["code"] == "ticket_invalid"


def test_ticket_for_another_key_is_refused(pc, helper, softhsm_store, demo_key):
    from wxbackend.tickets.service import issue_ticket

    other_token = issue_ticket("sign", token_serial="ffffffffffffffff", cert_serial=demo_key.certificate.serial)
    response = helper_sign(helper, other_token.ticket)
    assert response.status_code == 404 and response.json()["code"] == "token_absent"
    other_cert = issue_ticket("sign", token_serial=demo_key.serial, cert_serial="0123456789ABCDEF")
    response = helper_sign(helper, other_cert.ticket)
    assert response.status_code == 409 and response.json()["code"] == "key_mismatch"


def test_foreign_origin_cannot_use_the_pin_path(pc, helper):
    ticket = pc_start(pc, helper)["ticket"]
    response = helper.request("POST", "/v1/sign", origin="https://evil.example", json={"ticket": ticket, "pin": PIN})
    assert response.status_code == 403 and "Access-Control-Allow-Origin" not in response.headers
    assert helper_sign(helper, ticket).status_code == 200  # the refused request did not spend the ticket


@pytest.mark.parametrize("body,status,code", [
    (None, 400, "invalid_request"), ([], 400, "invalid_request"), ({}, 403, "ticket_invalid"),
    ({"ticket": "x"}, 403, "ticket_invalid"), ({"ticket": 1, "pin": PIN}, 403, "ticket_invalid"),
    ({"pin": PIN}, 403, "ticket_invalid"),
])
def test_malformed_requests_get_json_errors(pc, helper, body, status, code):
    response = helper.request("POST", "/v1/sign", json=body) if body is not None else helper.request(
        "POST", "/v1/sign", data="not json", headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert response.json()["message"] and "signature" not in response.json()
    # the refusal tried no PIN: a wrong PIN afterwards is the first of three
    wrong = helper_sign(helper, pc_start(pc, helper)["ticket"], WRONG)
    assert wrong.status_code == 401 and wrong.json()["tries_left"] == 2


def test_the_pin_never_appears_in_logs_or_responses(pc, helper, caplog):
    secret_wrong = "73519246"
    bodies = []
    for pin in (secret_wrong, PIN):
        started = pc_start(pc, helper)
        response = helper_sign(helper, started["ticket"], pin)
        bodies.append(response.text)
        if response.ok:
            bodies.append(pc.post("/pc/api/bind/code", json={"ticket_id": started["ticket_id"],
                                                             "signature": response.json()["signature"]}).text)
    everything = "\n".join(bodies) + helper.log() + caplog.text
    assert secret_wrong not in everything
    assert PIN not in everything
