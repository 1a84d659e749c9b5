"""The phone's 到期提醒 settings page (from 我的): reminders on or off, and the SMS fallback."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from wxbackend.reminders import service
from wxbackend.reminders.forms import ReminderSettingsForm
from wxbackend.web.auth import current_user_id, page_login_required
from wxbackend.web.refusals import refusals_flashed

bp = Blueprint("reminders_h5", __name__, url_prefix="/h5/reminders", template_folder="../templates")


def settings_page(**_view_args) -> str:
    return url_for("reminders_h5.settings")


@bp.route("/settings", methods=["GET", "POST"])
@page_login_required
@refusals_flashed(back=settings_page)
def settings():
    form = ReminderSettingsForm()
    if form.validate_on_submit():
        service.update_preferences(current_user_id(), enabled=form.enabled.data, sms_opt_in=form.sms_opt_in.data,
                                   mobile=form.mobile.data)
        flash("提醒设置已保存", "ok")
        return redirect(settings_page())
    current = service.preferences(current_user_id())
    if request.method == "GET":
        form.enabled.data, form.sms_opt_in.data = current.enabled, current.sms_opt_in
    return render_template("reminders/settings.html", form=form, current=current)
