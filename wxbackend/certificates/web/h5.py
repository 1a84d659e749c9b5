"""我的数字证书 and 证书详情 on the phone; 挂失 (report the key lost) and 解除挂失 (DESIGN §11, issue 14)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from wxbackend.certificates import revocation
from wxbackend.certificates.service import user_certificate, user_certificates
from wxbackend.orders.service import batch_candidates
from wxbackend.web.auth import current_user_id, page_login_required
from wxbackend.web.forms import ConfirmForm
from wxbackend.web.refusals import refusals_flashed

bp = Blueprint("certificates_h5", __name__, url_prefix="/h5", template_folder="../templates",
               static_folder="../static/certificates", static_url_path="/static/certificates")


def detail_page(certificate_id: int, **_view_args) -> str:
    return url_for("certificates_h5.certificate", certificate_id=certificate_id)


@bp.get("/certificates")
@page_login_required
def certificates():
    """我的数字证书; certificates renewable online carry a checkbox for 批量续期."""
    found = user_certificates(current_user_id())
    return render_template("certificates/certificates.html", certificates=found,
                           batchable=batch_candidates(current_user_id(), found))


@bp.get("/certificates/<int:certificate_id>")
@page_login_required
def certificate(certificate_id: int):
    cert = user_certificate(current_user_id(), certificate_id)
    return render_template("certificates/certificate.html", cert=cert, form=ConfirmForm(),
                           hold=revocation.active_hold(cert.id), renewable=revocation.refusal_for(cert, "续期") is None)


@bp.route("/certificates/<int:certificate_id>/report-lost", methods=["GET", "POST"])
@page_login_required
@refusals_flashed(back=detail_page)
def report_lost(certificate_id: int):
    """挂失: one confirmation page; the POST (with the page's CSRF token) suspends the certificate at once."""
    cert = user_certificate(current_user_id(), certificate_id)
    form = ConfirmForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        revocation.report_lost(current_user_id(), certificate_id, request.remote_addr or "")
        flash("挂失成功：该证书已暂停使用，钥匙找到后可在此解除挂失", "ok")
        return redirect(detail_page(certificate_id))
    return render_template("certificates/report_lost.html", cert=cert, form=form)


@bp.post("/certificates/<int:certificate_id>/withdraw-hold")
@page_login_required
@refusals_flashed(back=detail_page)
def withdraw_hold(certificate_id: int):
    """钥匙找到了 / 解除挂失: the hold is lifted; the certificate is usable again."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    revocation.withdraw_hold(current_user_id(), certificate_id, request.remote_addr or "")
    flash("已解除挂失，证书恢复正常使用", "ok")
    return redirect(detail_page(certificate_id))
