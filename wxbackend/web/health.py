"""Service endpoints that belong to no domain: health."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Blueprint, jsonify, redirect, url_for

from wxbackend.core.db import db
from wxbackend.core.redis import get_redis

bp = Blueprint("web", __name__)
log = logging.getLogger(__name__)


@bp.get("/")
def index():
    return redirect(url_for("users_h5.home"))


@bp.get("/healthz")
def healthz():
    """200 when the database and Redis both answer; 503 naming which does not (a load balancer's check)."""
    checks = {"database": lambda: db.session.execute(sa.text("SELECT 1")), "redis": lambda: get_redis().ping()}
    down = []
    for name, check in checks.items():
        try:
            check()
        except Exception as failed:
            log.error("healthz: %s unavailable (%s)", name, type(failed).__name__)
            down.append(name)
    if down:
        db.session.rollback()
        names = "、".join({"database": "数据库", "redis": "Redis"}[name] for name in down)
        return jsonify({"status": "unavailable", "code": "service_unavailable", "down": down,
                        "message": f"服务暂时不可用（{names}无法连接），请稍后再试"}), 503
    return jsonify({"status": "ok"})
