"""证书绑定 on the phone (DESIGN §4): the code and last 4 typed in, or a scanned QR; unbinding."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from wxbackend.binding import service as binding
from wxbackend.binding.forms import BindForm, QrBindForm
from wxbackend.web.auth import current_user_id, page_login_required
from wxbackend.web.forms import ConfirmForm
from wxbackend.web.limits import limited
from wxbackend.web.refusals import refusals_flashed

bp = Blueprint("binding_h5", __name__, url_prefix="/h5", template_folder="../templates")


@bp.route("/bind", methods=["GET", "POST"])
@limited("BIND_CLAIM_LIMIT", scope="binding_claim", methods=["POST"])
@page_login_required
@refusals_flashed()
def bind():
    """证书绑定: the code and last 4 typed in, or a scanned QR (?qr=…) confirmed with one tap."""
    qr = request.values.get("qr")
    form = QrBindForm() if qr else BindForm()
    if form.validate_on_submit():
        if qr:
            session_id = binding.claim_by_qr(current_user_id(), form.qr.data, request.remote_addr or "")
        else:
            session_id = binding.claim_by_code(current_user_id(), form.code.data, form.last4.data,
                                               request.remote_addr or "")
        return redirect(url_for("binding_h5.bind_wait", session_id=session_id))
    if qr and request.method == "GET":
        form.qr.data = qr
    return render_template("binding/bind.html", form=form, qr=qr)


@bp.get("/bind/wait/<session_id>")
@page_login_required
def bind_wait(session_id: str):
    state = binding.phone_session_state(current_user_id(), session_id)
    return render_template("binding/bind_wait.html", session_id=session_id, state=state)


@bp.post("/certificates/<int:certificate_id>/unbind")
@page_login_required
def unbind(certificate_id: int):
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    binding.unbind(current_user_id(), certificate_id)
    flash("已解除绑定", "ok")
    return redirect(url_for("certificates_h5.certificates"))
