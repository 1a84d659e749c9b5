"""JSON endpoints for orders (H5 pages and the mini-program): quote, create, list, detail, cancel, 待办."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from wxbackend.orders import service as orders
from wxbackend.orders.schemas import (
    OrderCreateSchema,
    OrderDetailSchema,
    OrderSchema,
    QuoteQuerySchema,
    QuoteSchema,
    TodoSchema,
)
from wxbackend.web.auth import api_user_id
from wxbackend.web.schemas import ApiErrorSchema

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
    @bp.alt_response(400, schema=ApiErrorSchema)
    @bp.alt_response(403, schema=ApiErrorSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
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
