"""JSON endpoints for orders (H5 pages and the mini-program): quote, create, list, detail, cancel, 待办,
身份鉴别. Routes join the `api` blueprint; importing this module registers them."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from wxbackend.api.schemas import ApiErrorSchema
from wxbackend.api.views import bp
from wxbackend.identity.service import verify_identity
from wxbackend.orders import service as orders
from wxbackend.web.auth import api_user_id


class QuoteQuerySchema(Schema):
    years = fields.Integer(load_default=1, validate=validate.Range(1, 5))
    app_id = fields.Integer(load_default=None)


class EligibilitySchema(Schema):
    code = fields.String()
    message = fields.String()
    renewable = fields.Boolean()
    path = fields.String(allow_none=True)
    opens_at = fields.DateTime(allow_none=True)


class QuoteSchema(Schema):
    eligibility = fields.Nested(EligibilitySchema)
    years = fields.Integer()
    amount_fen = fields.Integer()
    fee_detail = fields.String()
    old_not_after = fields.DateTime()
    new_not_after = fields.DateTime()


class OrderCreateSchema(Schema):
    certificate_id = fields.Integer(required=True)
    years = fields.Integer(required=True, validate=validate.Range(1, 5))
    app_id = fields.Integer(load_default=None)
    shown_amount_fen = fields.Integer(load_default=None, metadata={
        "description": "the amount (fen) the user was shown; when given, the order is created only for that amount"})


class OrderEventSchema(Schema):
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    note = fields.String()
    at = fields.DateTime()


class StepSchema(Schema):
    title = fields.String()
    done = fields.Boolean()
    at = fields.DateTime(allow_none=True)
    note = fields.String()


class OrderSchema(Schema):
    id = fields.Integer()
    order_no = fields.String()
    kind = fields.String()
    kind_label = fields.String()
    subject = fields.String(metadata={"description": "证书名称"})
    certificate_id = fields.Integer()
    cert_app_id = fields.Integer(allow_none=True)
    years = fields.Integer()
    amount_fen = fields.Integer()
    fee_detail = fields.String()
    status = fields.String()
    status_label = fields.String()
    path = fields.String()
    new_not_after = fields.DateTime()
    pay_channel = fields.String(allow_none=True)
    created_at = fields.DateTime()
    paid_at = fields.DateTime(allow_none=True)


class OrderDetailSchema(OrderSchema):
    events = fields.List(fields.Nested(OrderEventSchema))
    steps = fields.Method("get_steps")

    def get_steps(self, order):
        return StepSchema(many=True).dump(orders.timeline(order))


class TodoSchema(Schema):
    title = fields.String()
    detail = fields.String()
    link = fields.String()


class IdentityRequestSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(max=50))
    id_number = fields.String(required=True, validate=validate.Length(max=18))
    mobile = fields.String(required=True, validate=validate.Length(max=11))
    consent = fields.Boolean(required=True, metadata={"description": "单独同意 of the personal-data rules"})


class IdentityResultSchema(Schema):
    name = fields.String()
    id_number_masked = fields.String()
    mobile_masked = fields.String()
    result = fields.String()


@bp.route("/certificates/<int:certificate_id>/quote")
class Quote(MethodView):
    @bp.arguments(QuoteQuerySchema, location="query")
    @bp.response(200, QuoteSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    def get(self, query: dict, certificate_id: int):
        """Eligibility, price and new validity of renewing one of my certificates (or one of its 应用)."""
        return orders.quote(api_user_id(), certificate_id, query["years"], query["app_id"])


@bp.route("/orders")
class Orders(MethodView):
    @bp.response(200, OrderSchema(many=True))
    def get(self):
        """我的受理单."""
        return orders.user_orders(api_user_id())

    @bp.arguments(OrderCreateSchema)
    @bp.response(201, OrderDetailSchema)
    @bp.alt_response(400, schema=ApiErrorSchema)
    @bp.alt_response(403, schema=ApiErrorSchema)
    @bp.alt_response(409, schema=ApiErrorSchema)
    def post(self, body: dict):
        """Create a renewal order (identity check first; one open order per certificate)."""
        return orders.create_order(api_user_id(), body["certificate_id"], body["years"], body["app_id"],
                                   shown_amount_fen=body["shown_amount_fen"])


@bp.route("/orders/<int:order_id>")
class OrderDetail(MethodView):
    @bp.response(200, OrderDetailSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    def get(self, order_id: int):
        """One of my orders with its timeline."""
        return orders.user_order(api_user_id(), order_id)


@bp.route("/orders/<int:order_id>/cancel")
class OrderCancel(MethodView):
    @bp.response(200, OrderDetailSchema)
    @bp.alt_response(409, schema=ApiErrorSchema)
    def post(self, order_id: int):
        """撤销 before payment."""
        return orders.cancel_order(api_user_id(), order_id)


@bp.route("/todo")
class Todo(MethodView):
    @bp.response(200, TodoSchema(many=True))
    def get(self):
        """待办事项."""
        return orders.todo_items(api_user_id())


@bp.route("/identity")
class Identity(MethodView):
    @bp.arguments(IdentityRequestSchema)
    @bp.response(201, IdentityResultSchema)
    @bp.alt_response(400, schema=ApiErrorSchema)
    def post(self, body: dict):
        """身份鉴别认证 (separate consent required); the answer shows only masked values."""
        return verify_identity(api_user_id(), body["name"], body["id_number"], body["mobile"], body["consent"])
