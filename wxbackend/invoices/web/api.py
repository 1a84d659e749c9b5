"""JSON endpoints for 发票信息管理 and 我的发票 (the mini-program and H5 scripts): profiles, the orders waiting for
an invoice, invoice requests and history with download links. Every call is scoped to the signed-in user.

Field errors answer 400 `{"code": "invalid_fields", "message": <the first>, "errors": {field: message}}`."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from wxbackend.invoices import service
from wxbackend.invoices.schemas import (
    InvoiceableOrderSchema,
    InvoiceProfileCreateSchema,
    InvoiceProfileSchema,
    InvoiceProfileUpdateSchema,
    InvoiceRequestSchema,
    InvoiceSchema,
)
from wxbackend.invoices.service import ProfileInput
from wxbackend.web.auth import api_user_id
from wxbackend.web.limits import by_user, limited
from wxbackend.web.schemas import ApiErrorSchema, FieldErrorsSchema

bp = Blueprint("invoices_api", __name__, url_prefix="/api", description="发票信息管理 and 我的发票")


def profile_input(body: dict) -> ProfileInput:
    return ProfileInput(**{key: value for key, value in body.items() if key != "make_default"})


@bp.route("/invoice-profiles")
class InvoiceProfiles(MethodView):
    @bp.response(200, InvoiceProfileSchema(many=True))
    def get(self):
        """发票信息管理: my invoice profiles, the default first (bank account and mobile masked)."""
        return service.user_profiles(api_user_id())

    @bp.arguments(InvoiceProfileCreateSchema)
    @bp.response(201, InvoiceProfileSchema)
    @bp.alt_response(400, schema=FieldErrorsSchema)
    def post(self, body: dict):
        """Add a profile (my first one becomes the default)."""
        return service.create_profile(api_user_id(), profile_input(body), body["make_default"])


@bp.route("/invoice-profiles/<int:profile_id>")
class InvoiceProfileDetail(MethodView):
    @bp.response(200, InvoiceProfileSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    def get(self, profile_id: int):
        return service.user_profile(api_user_id(), profile_id)

    @bp.arguments(InvoiceProfileUpdateSchema)
    @bp.response(200, InvoiceProfileSchema)
    @bp.alt_response(400, schema=FieldErrorsSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    def put(self, body: dict, profile_id: int):
        """Change a profile (invoices already requested keep the buyer they were made with)."""
        return service.update_profile(api_user_id(), profile_id, profile_input(body), body["make_default"])

    @bp.response(204)
    @bp.alt_response(404, schema=ApiErrorSchema)
    def delete(self, profile_id: int):
        """Delete a profile; when it was the default, the newest remaining one becomes the default."""
        service.delete_profile(api_user_id(), profile_id)


@bp.route("/invoice-profiles/<int:profile_id>/default")
class InvoiceProfileDefault(MethodView):
    @bp.response(200, InvoiceProfileSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    def post(self, profile_id: int):
        """Make a profile my default."""
        return service.set_default_profile(api_user_id(), profile_id)


@bp.route("/invoices/invoiceable-orders")
class InvoiceableOrders(MethodView):
    @bp.response(200, InvoiceableOrderSchema(many=True))
    def get(self):
        """待开票: my paid orders not on any invoice."""
        return service.invoiceable_orders(api_user_id())


@bp.route("/invoices")
class Invoices(MethodView):
    @bp.response(200, InvoiceSchema(many=True))
    def get(self):
        """开票历史: my invoices, newest first, with download links once issued."""
        return service.user_invoices(api_user_id())

    @limited("INVOICE_REQUEST_LIMIT", scope="invoice_request", key_func=by_user)
    @bp.arguments(InvoiceRequestSchema)
    @bp.response(201, InvoiceSchema)
    @bp.alt_response(400, schema=FieldErrorsSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    @bp.alt_response(409, schema=ApiErrorSchema)
    @bp.alt_response(429, schema=ApiErrorSchema)
    def post(self, body: dict):
        """开票: one invoice for the chosen orders, to a profile of mine (`profile_id`) or one filled in now
        (`profile`). 409 when an order is already on an invoice or no longer invoiceable. The invoice is issued
        and mailed by a job (within 24 hours)."""
        new_profile = profile_input(body["profile"]) if body["profile"] is not None else None
        return service.request_invoice(api_user_id(), body["order_ids"], body["profile_id"], new_profile)


@bp.route("/invoices/<int:invoice_id>")
class InvoiceDetail(MethodView):
    @bp.response(200, InvoiceSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    def get(self, invoice_id: int):
        """One of my invoices (404 for anyone else's)."""
        return service.user_invoice(api_user_id(), invoice_id)
