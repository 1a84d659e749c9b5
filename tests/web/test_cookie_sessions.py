"""The signed-cookie session keeps its serializer per set of keys: a new SECRET_KEY is used at once."""

from __future__ import annotations

from flask import session

from wxbackend.web.auth import CookieSessions


def test_a_changed_secret_key_signs_and_checks_with_the_new_key(app):
    interface = app.session_interface
    assert isinstance(interface, CookieSessions)
    old = interface.get_signing_serializer(app)
    assert interface.get_signing_serializer(app) is old  # made once
    cookie = old.dumps({"uid": 7})
    original = app.secret_key
    try:
        app.secret_key = original + "-rotated"
        new = interface.get_signing_serializer(app)
        assert new is not old
        with app.test_request_context("/", headers={"Cookie": f"{app.config['SESSION_COOKIE_NAME']}={cookie}"}):
            assert "uid" not in session  # signed with the old key: not accepted
        app.config["SECRET_KEY_FALLBACKS"] = [original]
        with app.test_request_context("/", headers={"Cookie": f"{app.config['SESSION_COOKIE_NAME']}={cookie}"}):
            assert session["uid"] == 7  # the old key as a fallback: accepted
    finally:
        app.secret_key = original
        app.config["SECRET_KEY_FALLBACKS"] = []
