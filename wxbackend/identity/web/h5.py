"""身份鉴别认证 on the phone, with its separate consent (DESIGN §12)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request

from wxbackend.identity.forms import IdentityForm
from wxbackend.identity.service import InvalidIdentity, verify_identity
from wxbackend.web.auth import current_user, current_user_id, page_login_required, safe_next
from wxbackend.web.limits import by_user, limited
from wxbackend.web.refusals import field_refused

bp = Blueprint("identity_h5", __name__, url_prefix="/h5", template_folder="../templates")


@bp.route("/identity", methods=["GET", "POST"])
@limited("IDENTITY_CHECK_LIMIT", scope="identity_check", key_func=by_user, methods=["POST"])
@limited("IDENTITY_CHECK_LIMIT_PER_IP", scope="identity_check_ip", methods=["POST"])
@page_login_required
def identity():
    """身份鉴别认证, with its separate consent, before the first order."""
    form = IdentityForm()
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        try:
            verify_identity(current_user_id(), form.name.data, form.id_number.data, form.mobile.data,
                            form.consent.data)
            flash("身份鉴别认证已通过", "ok")
            return redirect(safe_next(request.args.get("next")))
        except InvalidIdentity as invalid:
            errors = field_refused(invalid, invalid.field)
    return render_template("identity/identity.html", form=form, errors=errors, user=current_user())
