"""The helper's HTTP surface. Every request passes the Host and Origin guard before any routing."""

from __future__ import annotations

import logging

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

from ukey_helper.config import HelperConfig
from ukey_helper.errors import HelperError
from ukey_helper.token import TokenLayer, read_certificates

log = logging.getLogger("ukey_helper")

PREFLIGHT_MAX_AGE = "600"


def create_helper_app(cfg: HelperConfig, tokens: TokenLayer | None = None) -> Flask:
    app = Flask("ukey_helper")
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    tokens = tokens or TokenLayer(cfg.modules)
    app.extensions["helper_config"] = cfg
    app.extensions["tokens"] = tokens

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
        response = jsonify(error.to_dict())
        response.status_code = error.status
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        code = "not_found" if error.code in (404, 405) else "bad_request"
        response = jsonify({"code": code, "message": HelperError(code).message})
        response.status_code = error.code or 400
        return response

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        log.exception("token operation failed")
        response = jsonify(HelperError("token_error").to_dict())
        response.status_code = 502
        return response

    @app.get("/v1/token")
    def get_token():
        """The one present key and its certificates."""
        if not tokens.lock.acquire(timeout=5):
            raise HelperError("busy")
        try:
            present = tokens.the_token()
            with present.token.open() as session:
                certificates = read_certificates(session)
            return jsonify({"token": present.describe(), "certificates": certificates})
        finally:
            tokens.lock.release()

    @app.get("/v1/health")
    def health():
        return jsonify({"status": "ok", "version": 1})

    return app
