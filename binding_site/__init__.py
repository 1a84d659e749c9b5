"""The PC pages customers open in a browser with their key plugged in (a blueprint registered by create_app)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

bp = Blueprint("binding_site", __name__, url_prefix="/pc", template_folder="templates", static_folder="static",
               static_url_path="/static")


@bp.get("/")
def index():
    return render_template("pc/index.html", helper_port=current_app.config["HELPER_PORT"])
