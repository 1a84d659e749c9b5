"""续期 on the PC (DESIGN §5): the page (/pc/renew, the paid order's certificate written to the key) and its
endpoints (`/pc/api/renew/…`): the page carries messages between the helper and the backend. No cookie: the key's
signatures and single-use tickets authenticate every step."""

from __future__ import annotations

from flask import Blueprint as PageBlueprint
from flask import render_template, request
from flask.views import MethodView
from flask_smorest import Blueprint

from wxbackend.renewal import service as renewal
from wxbackend.renewal.schemas import (
    RenewConfirmedSchema,
    RenewConfirmRequestSchema,
    RenewGroupSchema,
    RenewIssueRequestSchema,
    RenewStartRequestSchema,
    RenewStepSchema,
)
from wxbackend.web.limits import limited
from wxbackend.web.schemas import ApiErrorSchema

pages = PageBlueprint("renewal_pc", __name__, url_prefix="/pc", template_folder="../templates",
                      static_folder="../static/renewal", static_url_path="/static/renewal")
bp = Blueprint("renewal_pc_api", __name__, url_prefix="/pc/api", description="PC pages: writing a renewed certificate")


@pages.get("/renew")
def renew():
    """续期 on the PC: the paid order's certificate written to the key (DESIGN §5); ?order= names the order,
    ?group= a 批量续期 group whose keys are listed and written one at a time."""
    return render_template("renewal/pc_renew.html", order_no=request.args.get("order", "")[:32],
                           group_no=request.args.get("group", "")[:32])


def client_ip() -> str:
    return request.remote_addr or ""


@bp.route("/renew/start")
class RenewStart(MethodView):
    @limited("PC_START_LIMIT")
    @bp.arguments(RenewStartRequestSchema)
    @bp.response(200, RenewStepSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    @bp.alt_response(409, schema=ApiErrorSchema)
    @bp.alt_response(429, schema=ApiErrorSchema)
    def post(self, body: dict):
        """The paid order for the key's certificate and a `keygen` ticket (or `install` to resume). 409
        helper_outdated for a helper older than HELPER_MIN_VERSION (a courtesy check, as for binding)."""
        return renewal.start(body["certificate"], body["key_ids"], body["order_no"], client_ip(),
                             body["helper_version"], body["group_no"])


@bp.route("/renew/groups/<string:group_no>")
class RenewGroup(MethodView):
    @limited("PC_START_LIMIT")
    @bp.response(200, RenewGroupSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    @bp.alt_response(429, schema=ApiErrorSchema)
    def get(self, group_no: str):
        """批量续期: the group's keys (organisation, serial tail, 待写入 / 已写入) for the page that writes them one
        at a time."""
        return renewal.group_progress(group_no[:32])


@bp.route("/renew/issue")
class RenewIssue(MethodView):
    @limited("PC_SIGNATURE_LIMIT")
    @bp.arguments(RenewIssueRequestSchema)
    @bp.response(200, RenewStepSchema)
    @bp.alt_response(400, schema=ApiErrorSchema)
    @bp.alt_response(409, schema=ApiErrorSchema)
    @bp.alt_response(429, schema=ApiErrorSchema)
    def post(self, body: dict):
        """Issue the renewed certificate from the helper's CSR; an `install` ticket."""
        return renewal.issue(body["ticket_id"], body["old_signature"], body["csr"], client_ip())


@bp.route("/renew/confirm")
class RenewConfirm(MethodView):
    @limited("PC_SIGNATURE_LIMIT")
    @bp.arguments(RenewConfirmRequestSchema)
    @bp.response(200, RenewConfirmedSchema)
    @bp.alt_response(400, schema=ApiErrorSchema)
    @bp.alt_response(429, schema=ApiErrorSchema)
    def post(self, body: dict):
        """The new key signed the install challenge: order completed; a `cleanup` ticket."""
        return renewal.confirm(body["ticket_id"], body["signature"], client_ip())
