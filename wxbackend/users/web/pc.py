"""扫码登录 on the PC: /pc/login shows a QR code and waits; the phone (WeChat) opens it, the first scanner confirms
or refuses (`users/web/h5.py`), and the PC takes the customer session — the phone's, with a shorter idle timeout —
and lands on /pc/home. The PC's proof is its PC token in the `X-PC-Token` header, never in a URL."""

from __future__ import annotations

import functools

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, url_for

from wxbackend.applications.service import user_applications
from wxbackend.certificates.service import user_certificates
from wxbackend.core.qr import qr_svg
from wxbackend.orders.service import user_orders
from wxbackend.users import service
from wxbackend.web.auth import current_user, current_user_id, sign_in_pc, sign_out
from wxbackend.web.limits import limited

pages = Blueprint("users_pc", __name__, url_prefix="/pc", template_folder="../templates",
                  static_folder="../static/users", static_url_path="/static/users")
api = Blueprint("users_pc_api", __name__, url_prefix="/pc/api/login")


def pc_login_required(view):
    """PC pages: without a signed-in customer → /pc/login, coming back here afterwards."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if current_user() is None:
            return redirect(url_for("users_pc.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper


@pages.get("/login")
def login():
    """The QR code to scan with WeChat; the page polls until the phone has confirmed."""
    next_path = service.safe_pc_next(request.args.get("next"))
    if current_user() is not None:
        return redirect(next_path)
    return render_template("users/pc_login.html", next_path=next_path)


@pages.get("/home")
@pc_login_required
def home():
    """The customer's PC home: 我的数字证书, 我的业务单 and 我的受理单, each leading to its page."""
    user_id = current_user_id()
    return render_template("users/pc_home.html", user=current_user(), certificates=user_certificates(user_id),
                           applications=user_applications(user_id), orders=user_orders(user_id))


@pages.post("/logout")
def logout():
    """退出登录 (CSRF-checked like every cookie POST)."""
    sign_out()
    return redirect(url_for("users_pc.login"))


def _pc_token() -> str | None:
    return request.headers.get("X-PC-Token")


@api.post("")
@limited("PC_LOGIN_LIMIT")
def start():
    """A new QR login: {login_id, pc_token, qr_svg, qr_link (what the QR code says), expires_in}."""
    body = request.get_json(silent=True)
    next_path = body.get("next") if isinstance(body, dict) else None
    opened = service.open_pc_login(request.remote_addr or "", request.headers.get("User-Agent", ""), next_path)
    link = f"{current_app.config['PUBLIC_BASE_URL'].rstrip('/')}{url_for('users_h5.pc_login_scan', t=opened.qr_token)}"
    return jsonify(login_id=opened.login_id, pc_token=opened.pc_token, qr_svg=qr_svg(link), qr_link=link,
                   expires_in=opened.expires_in), 201


@api.get("/<login_id>")
def state(login_id: str):
    """Poll: waiting, scanned, confirmed or refused (410 once gone). The PC token in `X-PC-Token`."""
    return jsonify(service.pc_login_state(login_id, _pc_token()))


@api.post("/<login_id>/session")
def take(login_id: str):
    """The confirmed login becomes this browser's customer session (once); {next}: where to go."""
    user_id, next_path = service.take_pc_login(login_id, _pc_token(), request.remote_addr or "")
    sign_in_pc(user_id)
    return jsonify(next=next_path)
