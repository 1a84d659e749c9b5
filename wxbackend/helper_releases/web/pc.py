"""下载证书助手 on the PC site (issue 16): /pc/download lists the helper packages with their versions, sizes,
SHA-256 and install steps; /pc/download/<file> sends one of them (only a file SHA256SUMS names), and
/pc/download/helper.json the settings the helper runs with for this backend."""

from __future__ import annotations

import json

from flask import Blueprint, current_app, render_template, send_file

from wxbackend.helper_releases import service as releases

pages = Blueprint("helper_releases_pc", __name__, url_prefix="/pc", template_folder="../templates")


@pages.get("/download")
def download():
    """The packages in the release directory and how to install and check them."""
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    return render_template("helper_releases/download.html", releases=releases.list_releases(),
                           min_version=releases.minimum_version(), page_url=f"{base}/pc/download",
                           bind_url=f"{base}/pc/bind")


@pages.get("/download/helper.json")
def helper_config():
    """This backend's helper settings, saved beside the helper (it reads helper.json there when started alone)."""
    body = json.dumps(releases.helper_settings(), ensure_ascii=False, indent=2) + "\n"
    response = current_app.response_class(body, mimetype="application/json")
    response.headers["Content-Disposition"] = "attachment; filename=helper.json"
    response.headers["Cache-Control"] = "no-cache"
    return response


@pages.get("/download/<name>")
def download_file(name: str):
    """One package, as an attachment; 404 for any name SHA256SUMS does not list."""
    return send_file(releases.release_file(name), as_attachment=True, download_name=name,
                     mimetype="application/octet-stream", max_age=300)
