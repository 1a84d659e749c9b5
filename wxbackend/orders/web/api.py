"""JSON endpoints for orders (H5 pages and the mini-program): quote, create, list, detail, cancel, 待办; 批量续期
groups (quote, create, detail, cancel before payment)."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from wxbackend.orders import contacts as order_contacts
from wxbackend.orders import service as orders
from wxbackend.orders.contacts import ContactsInput
from wxbackend.orders.schemas import (
    ContactsPrefillSchema,
    GroupCreateSchema,
    GroupQuoteRequestSchema,
    GroupQuoteSchema,
    GroupSchema,
    OrderCreateSchema,
    OrderDetailSchema,
    OrderSchema,
    QuoteQuerySchema,
    QuoteSchema,
    TodoSchema,
)
from wxbackend.web.auth import api_user_id
from wxbackend.web.schemas import ApiErrorSchema, FieldErrorsSchema

bp = Blueprint("orders_api", __name__, url_prefix="/api", description="受理单: quotes, orders, 待办事项")


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
    @bp.alt_response(400, schema=FieldErrorsSchema,
                     description="invalid_fields, or agreement_required: the 电子认证服务协议 is to be accepted "
                     "(first order, or its version changed); `errors` names each field")
    @bp.alt_response(403, schema=ApiErrorSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    @bp.alt_response(409, schema=ApiErrorSchema)
    def post(self, body: dict):
        """Create a renewal order (identity check first; the 电子认证服务协议 accepted; 经办人 and 收件人; one open
        order per certificate)."""
        return orders.create_order(api_user_id(), body["certificate_id"], body["years"], body["app_id"],
                                   shown_amount_fen=body["shown_amount_fen"],
                                   agreement_version=body["agreement_version"],
                                   contacts=ContactsInput(**body["contacts"]))


@bp.route("/order-contacts/prefill")
class ContactsPrefill(MethodView):
    @bp.response(200, ContactsPrefillSchema)
    def get(self):
        """What the 经办人/收件人 form starts with: my verified name (ID number and mobile masked: left empty, the
        verified ones are used), my invoice email, 我的地址 with the default one."""
        return order_contacts.prefill(api_user_id())


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


def _items(body: dict) -> list[tuple[int, int]]:
    return [(item["certificate_id"], item["years"]) for item in body["items"]]


@bp.route("/order-groups/quote")
class GroupQuote(MethodView):
    @bp.arguments(GroupQuoteRequestSchema)
    @bp.response(200, GroupQuoteSchema)
    @bp.alt_response(400, schema=ApiErrorSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    def post(self, body: dict):
        """批量续期: each certificate's price and new validity, and the total exactly as it would be charged."""
        return orders.quote_group(api_user_id(), _items(body))


@bp.route("/order-groups")
class Groups(MethodView):
    @bp.response(200, GroupSchema(many=True))
    def get(self):
        """My 批量续期 groups, newest first."""
        return orders.user_groups(api_user_id())

    @bp.arguments(GroupCreateSchema)
    @bp.response(201, GroupSchema)
    @bp.alt_response(400, schema=ApiErrorSchema)
    @bp.alt_response(403, schema=ApiErrorSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    @bp.alt_response(409, schema=ApiErrorSchema)
    def post(self, body: dict):
        """批量续期: one group of 待支付 renewal orders, one per certificate, paid by one payment of the total."""
        return orders.create_group(api_user_id(), _items(body), shown_amount_fen=body["shown_amount_fen"],
                                   agreement_version=body["agreement_version"],
                                   contacts=ContactsInput(**body["contacts"]))


@bp.route("/order-groups/<int:group_id>")
class GroupDetail(MethodView):
    @bp.response(200, GroupSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    def get(self, group_id: int):
        """One of my groups with its orders (its status turns paid when the payment is confirmed)."""
        return orders.user_group(api_user_id(), group_id)


@bp.route("/order-groups/<int:group_id>/cancel")
class GroupCancel(MethodView):
    @bp.response(200, GroupSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    @bp.alt_response(409, schema=ApiErrorSchema)
    def post(self, group_id: int):
        """撤销 the whole group before payment (after payment each order is cancelled and refunded on its own:
        POST /api/orders/{id}/refund)."""
        return orders.cancel_group(api_user_id(), group_id)


@bp.route("/todo")
class Todo(MethodView):
    @bp.response(200, TodoSchema(many=True))
    def get(self):
        """待办事项."""
        return orders.todo_items(api_user_id())
