"""The signed-in user, for the phone's scripts and the mini-program."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from wxbackend.users.schemas import MeSchema
from wxbackend.web.auth import api_user_id, current_user
from wxbackend.web.schemas import ApiErrorSchema

bp = Blueprint("users_api", __name__, url_prefix="/api", description="The signed-in user")


@bp.route("/me")
class Me(MethodView):
    @bp.response(200, MeSchema)
    @bp.alt_response(401, schema=ApiErrorSchema)
    def get(self):
        """The signed-in user."""
        api_user_id()
        return current_user()
