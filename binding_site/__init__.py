"""The PC pages customers open in a browser with their key plugged in (a blueprint registered by create_app)."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for

bp = Blueprint("binding_site", __name__, url_prefix="/pc", template_folder="templates", static_folder="static",
               static_url_path="/static")


@bp.get("/")
def index():
    return redirect(url_for("binding_site.bind"))


@bp.get("/bind")
def bind():
    """证书绑定 on the PC: helper → PIN → 8-digit code → the phone claims → confirm here."""
    return render_template("pc/bind.html", helper_url=f"http://127.0.0.1:{current_app.config['HELPER_PORT']}")


@bp.get("/renew")
def renew():
    """续期 on the PC: the paid order's certificate written to the key (DESIGN §5); ?order= names the order."""
    return render_template("pc/renew.html", helper_url=f"http://127.0.0.1:{current_app.config['HELPER_PORT']}",
                           order_no=request.args.get("order", "")[:32])
