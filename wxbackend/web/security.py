"""Response headers every page and answer carries: a Content-Security-Policy without inline script, no framing,
the referrer kept to our own origin, and HSTS in production (where the site is only reached over HTTPS)."""

from __future__ import annotations

from functools import lru_cache

from flask import Flask, current_app

HSTS = "max-age=31536000; includeSubDomains"


def content_security_policy() -> str:
    """Scripts only from our own files (no inline script, no eval); styles ours (inline style attributes allowed:
    they cannot run code); fetches to ourselves and to the key helper on the customer's PC; never framed."""
    return _policy_for(current_app.config["HELPER_PORT"])


@lru_cache(maxsize=8)
def _policy_for(port: int) -> str:
    helper = f"http://127.0.0.1:{port} http://localhost:{port}"
    return "; ".join((
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        f"connect-src 'self' {helper}",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
    ))


def register_security_headers(app: Flask) -> None:
    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", content_security_policy())
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if current_app.config["APP_ENV"] == "production":
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response
