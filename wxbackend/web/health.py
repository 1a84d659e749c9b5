"""Service endpoints that belong to no domain: health."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, jsonify, redirect, url_for

from wxbackend.core.db import db
from wxbackend.core.redis import get_redis

bp = Blueprint("web", __name__)


@bp.get("/")
def index():
    return redirect(url_for("users_h5.home"))


@bp.get("/healthz")
def healthz():
    db.session.execute(sa.text("SELECT 1"))
    get_redis().ping()
    return jsonify({"status": "ok"})
