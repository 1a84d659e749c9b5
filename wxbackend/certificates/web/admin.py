"""证书挂失 in the console (DESIGN §11, §15), for 客服 and 审核员: look a certificate up by serial and place a hold
for a caller whose identity was checked — the same service as the phone's 挂失, with the staff member as the actor,
a fresh TOTP code and the reason typed kept on the hold and the audit row."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from wxbackend.certificates import revocation
from wxbackend.staff.models import Role
from wxbackend.web.console import ConsoleQueue
from wxbackend.web.refusals import refusals_flashed
from wxbackend.web.staff_session import fresh_totp_required, staff_required

bp = Blueprint("certificates_admin", __name__, url_prefix="/admin", template_folder="../templates")
ROLES = (Role.SUPPORT, Role.AUDITOR)
QUEUES = (ConsoleQueue("证书挂失", "certificates_admin.hold_lookup", ROLES, group="操作"),)


def lookup_page(**_view_args) -> str:
    return url_for("certificates_admin.hold_lookup", serial=request.form.get("serial", "").strip())


@bp.get("/certificates/hold")
@staff_required(*ROLES)
def hold_lookup():
    serial = request.args.get("serial", "").strip()
    cert = revocation.certificate_with_serial(serial) if serial else None
    return render_template("certificates/admin_hold.html", serial=serial, cert=cert,
                           hold=revocation.active_hold(cert.id) if cert else None,
                           can_hold=cert is not None and revocation.refusal_for(cert, "挂失") is None)


@bp.post("/certificates/hold")
@staff_required(*ROLES)
@refusals_flashed(back=lookup_page)
@fresh_totp_required
def place_hold():
    """挂失 for a caller whose identity the staff member checked: at once 已挂失 and certificateHold on the CRL."""
    hold = revocation.staff_report_lost(g.staff.id, request.form.get("serial"), request.form.get("reason"),
                                        request.remote_addr or "")
    flash(f"证书{hold.certificate.serial}已挂失", "ok")
    return redirect(url_for("certificates_admin.hold_lookup", serial=hold.certificate.serial))
