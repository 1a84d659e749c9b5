"""Pages of 我的地址. Thin: bound the form, call one service, render."""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for

from wxbackend.addresses import service
from wxbackend.addresses.divisions import as_json as divisions_tree
from wxbackend.addresses.forms import AddressForm
from wxbackend.addresses.service import AddressInput
from wxbackend.core.validation import InvalidFields
from wxbackend.web.auth import current_user_id, page_login_required
from wxbackend.web.forms import ConfirmForm, show_errors
from wxbackend.web.refusals import refusals_flashed

bp = Blueprint("addresses_h5", __name__, url_prefix="/h5/addresses", template_folder="../templates",
               static_folder="../static/addresses", static_url_path="/static")
FIELDS = ("recipient", "province", "city", "district", "detail", "postcode")


def address_input(form: AddressForm, editing: bool = False) -> AddressInput:
    """The address typed in. When editing, an empty mobile keeps the stored one."""
    mobile = form.mobile.data or (None if editing else "")
    return AddressInput(**{name: form[name].data or "" for name in FIELDS}, mobile=mobile)


@bp.get("/divisions.json")
def divisions():
    """China's 省/市/区县 for the picker (public data; cached by the browser for a day)."""
    response = jsonify(divisions_tree())
    response.cache_control.public, response.cache_control.max_age = True, 86400
    return response


@bp.get("")
@page_login_required
def addresses():
    return render_template("addresses/list.html", addresses=service.user_addresses(current_user_id()),
                           form=ConfirmForm())


def _back_to(target: str | None) -> str | None:
    """Where a page that sent the user here to add an address wants them back (our own /h5/ pages only)."""
    if (target and len(target) <= 200 and target.startswith("/h5/") and "//" not in target and "\\" not in target
            and all(32 < ord(c) < 127 for c in target)):
        return target
    return None


@bp.route("/new", methods=["GET", "POST"])
@page_login_required
def new_address():
    form = AddressForm()
    problems: dict[str, str] = {}
    if form.validate_on_submit():
        try:
            service.create_address(current_user_id(), address_input(form), form.make_default.data)
            flash("地址已保存", "ok")
            return redirect(_back_to(request.args.get("next")) or url_for("addresses_h5.addresses"))
        except InvalidFields as invalid:
            problems = show_errors(form, invalid)
    return render_template("addresses/form.html", form=form, address=None, problems=problems)


@bp.route("/<int:address_id>/edit", methods=["GET", "POST"])
@page_login_required
def edit_address(address_id: int):
    address = service.user_address(current_user_id(), address_id)
    form = AddressForm()
    problems: dict[str, str] = {}
    if form.validate_on_submit():
        try:
            service.update_address(current_user_id(), address_id, address_input(form, editing=True),
                                   form.make_default.data)
            flash("地址已修改", "ok")
            return redirect(url_for("addresses_h5.addresses"))
        except InvalidFields as invalid:
            problems = show_errors(form, invalid)
    elif request.method == "GET":
        for name in FIELDS:
            form[name].data = getattr(address, name)
        form.make_default.data = address.is_default
    return render_template("addresses/form.html", form=form, address=address, problems=problems)


@bp.post("/<int:address_id>/delete")
@page_login_required
def delete_address(address_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    service.delete_address(current_user_id(), address_id)
    flash("地址已删除", "ok")
    return redirect(url_for("addresses_h5.addresses"))


def addresses_page(**_view_args) -> str:
    return url_for("addresses_h5.addresses")


@bp.post("/<int:address_id>/default")
@page_login_required
@refusals_flashed(back=addresses_page)
def default_address(address_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    service.set_default_address(current_user_id(), address_id)
    flash("已设为默认地址", "ok")
    return redirect(addresses_page())
