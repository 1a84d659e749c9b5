"""The helper's HTTP surface. Every request passes the Host and Origin guard before any routing."""

from __future__ import annotations

import base64
import json
import logging
from contextlib import contextmanager

import pkcs11
from flask import Flask, g, jsonify, request
from pkcs11 import ObjectClass
from werkzeug.exceptions import HTTPException

from helper_protocol.tickets import AUDIENCE_COUNTER, COUNTER_INSTALL, COUNTER_KEYGEN, Ticket
from ukey_helper import __version__
from ukey_helper.config import HelperConfig
from ukey_helper.counter import check_counter_ticket, generate_counter_key, require_only_key, set_random_pin
from ukey_helper.errors import HelperError
from ukey_helper.pin import PinAttempts, check_pin_format, guard_pin_state
from ukey_helper.renewal import (
    HeldSession,
    check_issued_certificate,
    check_renewal_ticket,
    generate_renewal_key,
    install_certificate,
    parse_certificate,
    parse_chain,
    remove_old_certificate,
    verify_chain,
)
from ukey_helper.store import HelperStore
from ukey_helper.tickets import TicketVerifier
from ukey_helper.token import PresentToken, TokenLayer, key_id, pin_state, read_certificates, read_key_ids
from ukey_helper.token import sign as token_sign

log = logging.getLogger("ukey_helper")

PREFLIGHT_MAX_AGE = "600"
# Who answers: on the token listing and on every error answer of an allowed page, so that the PC pages can show the
# helper's version and tell an outdated helper even when no key is plugged in.
HELPER = {"version": __version__}
# Errors after which a held renewal session is not trusted any more: the key was pulled out or misbehaved.
TOKEN_FAILURES = {"write_failed", "token_error", "token_absent", "multiple_tokens"}


def json_body() -> dict:
    """The request's JSON object, or invalid_request: not JSON, malformed, nested too deep for the parser (a
    RecursionError), or not an object. Never a token error: the key was not touched."""
    if not request.is_json:
        raise HelperError("invalid_request")
    try:
        body = json.loads(request.get_data(cache=True))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise HelperError("invalid_request") from None
    if not isinstance(body, dict):
        raise HelperError("invalid_request")
    return body


class TokenOperation:
    """One token operation at a time: the lock is taken without waiting long, else `busy`."""

    def __init__(self, tokens: TokenLayer):
        self.tokens = tokens

    def __enter__(self):
        if not self.tokens.lock.acquire(timeout=5):
            raise HelperError("busy")
        return self

    def __exit__(self, *exc):
        self.tokens.lock.release()


def find_certificate(session, cert_serial: str) -> dict:
    for cert in read_certificates(session):
        if cert["serial"] == cert_serial:
            return cert
    raise HelperError("key_mismatch", "介质中没有该证书，请确认插入的是正确的证书介质")


def login(present: PresentToken, pin: str, attempts: PinAttempts, confirmed_final_try: bool):
    """Open a logged-in session after the PIN rules; the PIN goes to C_Login only."""
    serial = present.serial
    guard_pin_state(pin_state(int(present.token.flags)), confirmed_final_try)
    attempts.check(serial)
    try:
        session = present.token.open(rw=True, user_pin=pin)
    except pkcs11.exceptions.PinIncorrect:
        left = attempts.fail(serial)
        raise HelperError("pin_incorrect", f"PIN码错误，还可尝试{left}次" if left else
                          "PIN码错误，尝试次数过多，请15分钟后再试", tries_left=left) from None
    except pkcs11.exceptions.PinLocked:
        raise HelperError("pin_locked") from None
    except pkcs11.exceptions.PinLenRange:
        raise HelperError("pin_incorrect", "PIN码长度不正确", tries_left=attempts.remaining(serial)) from None
    attempts.succeed(serial)
    return session


def close_quietly(session) -> None:
    try:
        session.close()
    except pkcs11.exceptions.PKCS11Error:
        pass  # the key was pulled out: nothing left to close


def private_key_for(session, cka_id_hex: str):
    try:
        return session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=bytes.fromhex(cka_id_hex))
    except (pkcs11.exceptions.NoSuchKey, pkcs11.exceptions.MultipleObjectsReturned):
        raise HelperError("key_mismatch", "介质中没有与证书匹配的私钥") from None


def create_helper_app(cfg: HelperConfig, tokens: TokenLayer | None = None,
                      verifier: TicketVerifier | None = None, attempts: PinAttempts | None = None) -> Flask:
    app = Flask("ukey_helper")
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    tokens = tokens or TokenLayer(cfg.modules)
    store = HelperStore(cfg.data_dir) if verifier is None or attempts is None else None
    verifier = verifier or TicketVerifier(cfg.ticket_public_keys, store=store)
    attempts = attempts or PinAttempts(store)
    held = HeldSession(tokens, cfg.session_hold_seconds)
    app.extensions["helper_config"] = cfg
    app.extensions["tokens"] = tokens
    app.extensions["held_session"] = held

    def refuse(code: str):
        response = jsonify({"code": code, "message": HelperError(code).message})
        response.status_code = 403
        return response

    @app.before_request
    def guard():
        # DNS rebinding: a hostile name resolving to 127.0.0.1 arrives with its own Host header.
        if request.headers.get("Host", "") not in cfg.allowed_hosts:
            log.warning("refused request with unexpected Host")
            return refuse("forbidden_host")
        origin = request.headers.get("Origin")
        if origin is None or origin not in cfg.allowed_origins:
            log.warning("refused request with Origin %r", origin)
            return refuse("forbidden_origin")
        g.allowed_origin = origin
        if request.method == "OPTIONS":
            response = app.response_class(status=204)
            response.headers["Access-Control-Allow-Methods"] = "GET, POST"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type"
            response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
            response.headers["Access-Control-Allow-Private-Network"] = "true"
            return response
        return None

    @app.after_request
    def cors(response):
        origin = g.get("allowed_origin")
        if origin:
            response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(HelperError)
    def helper_error(error: HelperError):
        response = jsonify({**error.to_dict(), "helper": HELPER})
        response.status_code = error.status
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        code = "not_found" if error.code in (404, 405) else "bad_request"
        response = jsonify({"code": code, "message": HelperError(code).message, "helper": HELPER})
        response.status_code = error.code or 400
        return response

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        log.exception("token operation failed")
        response = jsonify({**HelperError("token_error").to_dict(), "helper": HELPER})
        response.status_code = 502
        return response

    @app.get("/v1/token")
    def get_token():
        """The one present key, its certificates and the CKA_IDs of its key pairs (public objects only), and the
        helper's own version."""
        with TokenOperation(tokens):
            present = tokens.the_token()
            with present.token.open() as session:
                certificates = read_certificates(session)
                key_ids = read_key_ids(session)
        return jsonify({"token": present.describe(), "certificates": certificates, "key_ids": key_ids,
                        "helper": HELPER})

    @app.post("/v1/sign")
    def sign_challenge():
        """Sign the ticket's challenge with the private key of the ticket's certificate, after the PIN."""
        body = json_body()
        ticket: Ticket = verifier.verify(body.get("ticket"), op="sign")
        pin = check_pin_format(body.get("pin"))
        with TokenOperation(tokens):
            present = tokens.the_token(serial=ticket.token_serial)
            with present.token.open() as public_session:
                cert = find_certificate(public_session, ticket.cert_serial)
            verifier.consume(ticket)
            held.release("another operation")  # C_Login fails while a renewal session is logged in
            session = login(present, pin, attempts, body.get("confirm_final_try") is True)
            del pin
            try:
                signature = token_sign(private_key_for(session, cert["cka_id"]), ticket.challenge)
            finally:
                session.close()
        return jsonify({"signature": base64.b64encode(signature).decode(), "certificate_serial": cert["serial"],
                        "medium_number": present.serial})

    def renewal_session(present: PresentToken, ticket: Ticket, body: dict):
        """The flow's held session, or one logged in with the body's PIN (same rules as /v1/sign) and then held
        for the rest of the flow. Consumes the ticket; pin_required, with the ticket unspent, when neither."""
        session = held.take(present.serial, ticket.order_id)
        pin = None
        if session is None:
            if body.get("pin") is None:
                raise HelperError("pin_required")
            pin = check_pin_format(body.get("pin"))
        verifier.consume(ticket)
        if session is None:
            held.release("another flow")
            session = login(present, pin, attempts, body.get("confirm_final_try") is True)
            held.hold(present.serial, ticket.order_id, session, logged_in_at=held.clock())
        return session

    @contextmanager
    def ending_flow_on_token_error():
        try:
            yield
        except HelperError as error:
            if error.code in TOKEN_FAILURES:
                held.release(error.code)
            raise
        except Exception:
            held.release("token error")
            raise

    @app.post("/v1/keygen")
    def keygen():
        """Renewal step 3: sign the challenge with the old key, make the new key pair and its CSR; the logged-in
        session is held for install and cleanup."""
        body = json_body()
        ticket = check_renewal_ticket(verifier.verify(body.get("ticket"), op="keygen"), needs_cert_hash=False)
        pin = check_pin_format(body.get("pin"))
        with TokenOperation(tokens):
            held.release("new flow")  # a new flow logs in afresh
            present = tokens.the_token(serial=ticket.token_serial)
            with present.token.open() as public_session:
                old = find_certificate(public_session, ticket.cert_serial)
            verifier.consume(ticket)
            session = login(present, pin, attempts, body.get("confirm_final_try") is True)
            logged_in_at = held.clock()
            del pin
            try:
                answer = generate_renewal_key(session, old, ticket.challenge, ticket.order_id, present.serial)
            except BaseException:
                close_quietly(session)
                raise
            held.hold(present.serial, ticket.order_id, session, logged_in_at)
        return jsonify(answer)

    @app.post("/v1/install")
    def install():
        """Renewal step 5: write the issued certificate beside its new key and sign the challenge with that key.
        Only the certificate named by the ticket's hash, chaining to a self-signed root, is written."""
        body = json_body()
        ticket = check_renewal_ticket(verifier.verify(body.get("ticket"), op="install"), needs_cert_hash=True)
        cert = parse_certificate(body.get("certificate"))
        check_issued_certificate(cert, ticket)
        verify_chain(cert, parse_chain(body.get("chain")))
        with TokenOperation(tokens), ending_flow_on_token_error():
            present = tokens.the_token(serial=ticket.token_serial)
            session = renewal_session(present, ticket, body)
            signature = install_certificate(session, cert, ticket.challenge, label=f"renew-{ticket.order_id}")
        return jsonify({"signature": base64.b64encode(signature).decode(),
                        "certificate_serial": format(cert.serial_number, "X")})

    @app.post("/v1/cleanup")
    def cleanup():
        """Renewal step 7: remove the old certificate and key pair once the new certificate is on the token; ends
        the flow's held session."""
        body = json_body()
        ticket = check_renewal_ticket(verifier.verify(body.get("ticket"), op="cleanup"), needs_cert_hash=True)
        with TokenOperation(tokens), ending_flow_on_token_error():
            present = tokens.the_token(serial=ticket.token_serial)
            session = renewal_session(present, ticket, body)
            removed = remove_old_certificate(session, ticket.cert_serial, ticket.cert_hash)
            held.release("cleanup done")
        return jsonify({"removed": removed})

    @app.post("/v1/counter/keygen")
    def counter_keygen():
        """Counter step 1 (a counter ticket only): on a blank key, logged in with its initial PIN, a new key pair
        and its CSR. Refuses a key that holds any certificate or key (token_not_blank)."""
        body = json_body()
        ticket = check_counter_ticket(verifier.verify(body.get("ticket"), op=COUNTER_KEYGEN,
                                                      audience=AUDIENCE_COUNTER), install=False)
        pin = check_pin_format(body.get("pin"))
        with TokenOperation(tokens):
            held.release("counter")
            present = tokens.the_token(serial=ticket.token_serial)
            verifier.consume(ticket)
            session = login(present, pin, attempts, body.get("confirm_final_try") is True)
            del pin
            try:
                answer = generate_counter_key(session, ticket.order_id, present.serial)
            finally:
                close_quietly(session)
        return jsonify(answer)

    @app.post("/v1/counter/install")
    def counter_install():
        """Counter step 2 (a counter ticket only): write the issued certificate beside the key made at keygen,
        sign the challenge with that key, then set a random user PIN and return it sealed to the ticket's key."""
        body = json_body()
        ticket = check_counter_ticket(verifier.verify(body.get("ticket"), op=COUNTER_INSTALL,
                                                      audience=AUDIENCE_COUNTER), install=True)
        cert = parse_certificate(body.get("certificate"))
        check_issued_certificate(cert, ticket)
        verify_chain(cert, parse_chain(body.get("chain")))
        pin = check_pin_format(body.get("pin"))
        with TokenOperation(tokens):
            held.release("counter")
            present = tokens.the_token(serial=ticket.token_serial)
            verifier.consume(ticket)
            session = login(present, pin, attempts, body.get("confirm_final_try") is True)
            try:
                require_only_key(session, key_id(cert.public_key()))
                signature = install_certificate(session, cert, ticket.challenge, label=f"counter-{ticket.order_id}")
                sealed_pin = set_random_pin(session, pin, ticket)
            finally:
                del pin
                close_quietly(session)
        return jsonify({"signature": base64.b64encode(signature).decode(), "sealed_pin": sealed_pin,
                        "certificate_serial": format(cert.serial_number, "X"), "medium_number": present.serial})

    @app.get("/v1/health")
    def health():
        return jsonify({"status": "ok", "version": 1, "helper": HELPER})

    return app
