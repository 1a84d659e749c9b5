"""JSON endpoints for 我的地址 (the mini-program and H5 scripts), scoped to the signed-in user. Field errors answer
400 with `errors` (`web.errors`)."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from wxbackend.addresses import service
from wxbackend.addresses.divisions import as_json as divisions_tree
from wxbackend.addresses.schemas import (
    AddressCreateSchema,
    AddressSchema,
    AddressUpdateSchema,
    ProvinceSchema,
)
from wxbackend.addresses.service import AddressInput
from wxbackend.web.auth import api_user_id
from wxbackend.web.schemas import ApiErrorSchema, FieldErrorsSchema

bp = Blueprint("addresses_api", __name__, url_prefix="/api", description="我的地址")


def address_input(body: dict) -> AddressInput:
    return AddressInput(**{key: value for key, value in body.items() if key != "make_default"})


@bp.route("/addresses")
class Addresses(MethodView):
    @bp.response(200, AddressSchema(many=True))
    def get(self):
        """我的地址, the default first (mobiles masked)."""
        return service.user_addresses(api_user_id())

    @bp.arguments(AddressCreateSchema)
    @bp.response(201, AddressSchema)
    @bp.alt_response(400, schema=FieldErrorsSchema)
    def post(self, body: dict):
        """Add an address (my first one becomes the default)."""
        return service.create_address(api_user_id(), address_input(body), body["make_default"])


@bp.route("/addresses/<int:address_id>")
class AddressDetail(MethodView):
    @bp.response(200, AddressSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    def get(self, address_id: int):
        return service.user_address(api_user_id(), address_id)

    @bp.arguments(AddressUpdateSchema)
    @bp.response(200, AddressSchema)
    @bp.alt_response(400, schema=FieldErrorsSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    def put(self, body: dict, address_id: int):
        return service.update_address(api_user_id(), address_id, address_input(body), body["make_default"])

    @bp.response(204)
    @bp.alt_response(404, schema=ApiErrorSchema)
    def delete(self, address_id: int):
        """Delete an address; when it was the default, the newest remaining one becomes the default."""
        service.delete_address(api_user_id(), address_id)


@bp.route("/addresses/<int:address_id>/default")
class AddressDefault(MethodView):
    @bp.response(200, AddressSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    def post(self, address_id: int):
        """Make an address my default."""
        return service.set_default_address(api_user_id(), address_id)


@bp.route("/addresses/divisions")
class Divisions(MethodView):
    @bp.response(200, ProvinceSchema(many=True))
    def get(self):
        """省/市/区县 for the address picker (what /h5/addresses/divisions.json gives the H5 page): an address must name
        a 区/县 of its city."""
        return divisions_tree()
