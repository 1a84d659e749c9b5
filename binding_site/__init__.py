"""The PC site's shell: what every PC page shares (its base template, pc.css, pc-common.js) and /pc/ itself. The
pages and their endpoints live in their domains (`binding/web/pc.py`, `renewal/web/pc.py`); this package imports
none of them."""

from __future__ import annotations

from flask import Blueprint, redirect

bp = Blueprint("binding_site", __name__, url_prefix="/pc", template_folder="templates", static_folder="static",
               static_url_path="/static")


@bp.get("/")
def index():
    return redirect("/pc/bind")
