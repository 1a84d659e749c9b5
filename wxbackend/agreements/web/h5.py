"""The 电子认证服务协议 in full on the phone (the order pages show it inline until it is accepted)."""

from __future__ import annotations

from flask import Blueprint, render_template

from wxbackend.agreements import service
from wxbackend.web.auth import current_user_id, page_login_required

bp = Blueprint("agreements_h5", __name__, url_prefix="/h5/agreements", template_folder="../templates")


@bp.get("/service")
@page_login_required
def service_agreement():
    return render_template("agreements/service.html", agreement=service.SERVICE_AGREEMENT,
                           accepted=service.acceptance(current_user_id()))
