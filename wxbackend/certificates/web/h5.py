"""我的数字证书 and 证书详情 on the phone."""

from __future__ import annotations

from flask import Blueprint, render_template

from wxbackend.certificates.service import user_certificate, user_certificates
from wxbackend.web.auth import current_user_id, page_login_required
from wxbackend.web.forms import ConfirmForm

bp = Blueprint("certificates_h5", __name__, url_prefix="/h5", template_folder="../templates")


@bp.get("/certificates")
@page_login_required
def certificates():
    return render_template("certificates/certificates.html", certificates=user_certificates(current_user_id()))


@bp.get("/certificates/<int:certificate_id>")
@page_login_required
def certificate(certificate_id: int):
    return render_template("certificates/certificate.html", cert=user_certificate(current_user_id(), certificate_id),
                           form=ConfirmForm())
