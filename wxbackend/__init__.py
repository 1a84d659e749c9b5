"""数安 CA 管家 backend: `create_app(config)` builds the Flask application."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from flask import Flask

import config as config_module


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the app from defaults, the environment and `overrides` (tests pass a dict)."""
    settings = config_module.load_config(overrides)
    app = Flask(__name__, instance_path=str(config_module.VAR))
    app.config.update(settings)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=settings["DATABASE_URL"],
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        MAX_CONTENT_LENGTH=4 * 1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings["APP_ENV"] == "production",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8),
        JSON_AS_ASCII=False,
        TESTING=settings["APP_ENV"] == "testing",
    )
    app.json.ensure_ascii = False
    logging.basicConfig(level=settings["LOG_LEVEL"], format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

    from wxbackend.extensions import db, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(config_module.ROOT / "migrations"), render_as_batch=True,
                     compare_type=True)
    from wxbackend import models  # noqa: F401  (every model registered before migrations look)
    from wxbackend.errors import register_error_handlers

    register_error_handlers(app)

    from binding_site import bp as binding_site_bp
    from wxbackend.ca.views import bp as ca_bp
    from wxbackend.web import bp as web_bp

    app.register_blueprint(web_bp)
    app.register_blueprint(ca_bp)
    app.register_blueprint(binding_site_bp)

    from wxbackend.ca.cli import ca_cli
    from wxbackend.demo.cli import demo_cli

    app.cli.add_command(ca_cli)
    app.cli.add_command(demo_cli)
    return app
