"""身份鉴别认证 as JSON, with its separate consent (DESIGN §12); the answer shows only masked values."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from wxbackend.identity.schemas import IdentityRequestSchema, IdentityResultSchema
from wxbackend.identity.service import verify_identity
from wxbackend.web.auth import api_user_id
from wxbackend.web.limits import by_user, limited
from wxbackend.web.schemas import ApiErrorSchema

bp = Blueprint("identity_api", __name__, url_prefix="/api", description="身份鉴别认证")


@bp.route("/identity")
class Identity(MethodView):
    @limited("IDENTITY_CHECK_LIMIT", scope="identity_check", key_func=by_user)
    @limited("IDENTITY_CHECK_LIMIT_PER_IP", scope="identity_check_ip")
    @bp.arguments(IdentityRequestSchema)
    @bp.response(201, IdentityResultSchema)
    @bp.alt_response(400, schema=ApiErrorSchema)
    @bp.alt_response(429, schema=ApiErrorSchema)
    def post(self, body: dict):
        """身份鉴别认证 (separate consent required); the answer shows only masked values."""
        return verify_identity(api_user_id(), body["name"], body["id_number"], body["mobile"], body["consent"])
