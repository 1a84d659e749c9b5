"""JSON endpoints of the expiry reminders (mini-program and H5 scripts): the user's switch and SMS opt-in, and the
subscribe-message accepts the mini-program reports after asking at binding and at payment."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from wxbackend.reminders import service
from wxbackend.reminders.schemas import (
    ReminderSettingsSchema,
    ReminderSettingsUpdateSchema,
    SubscribeCountSchema,
    SubscribeResultsSchema,
    SubscribeTemplatesSchema,
)
from wxbackend.web.auth import api_user_id
from wxbackend.web.schemas import ApiErrorSchema, FieldErrorsSchema

bp = Blueprint("reminders_api", __name__, url_prefix="/api", description="证书到期提醒")


@bp.route("/reminders/settings")
class ReminderSettings(MethodView):
    @bp.response(200, ReminderSettingsSchema)
    @bp.alt_response(401, schema=ApiErrorSchema)
    def get(self):
        """My reminder settings."""
        return service.preferences(api_user_id())

    @bp.arguments(ReminderSettingsUpdateSchema)
    @bp.response(200, ReminderSettingsSchema)
    @bp.alt_response(400, schema=FieldErrorsSchema)
    @bp.alt_response(401, schema=ApiErrorSchema)
    def put(self, body: dict):
        """Turn reminders on or off, and the SMS fallback (which needs a mobile)."""
        return service.update_preferences(api_user_id(), enabled=body["enabled"], sms_opt_in=body["sms_opt_in"],
                                          mobile=body["mobile"])


@bp.route("/reminders/subscribe-templates")
class SubscribeTemplates(MethodView):
    @bp.response(200, SubscribeTemplatesSchema)
    @bp.alt_response(401, schema=ApiErrorSchema)
    def get(self):
        """The subscribe templates the mini-program asks consent for at binding and at payment."""
        api_user_id()
        return {"template_ids": list(service.subscribe_templates())}


@bp.route("/reminders/subscribe-results")
class SubscribeResults(MethodView):
    @bp.arguments(SubscribeResultsSchema)
    @bp.response(200, SubscribeCountSchema)
    @bp.alt_response(400, schema=FieldErrorsSchema)
    @bp.alt_response(401, schema=ApiErrorSchema)
    def post(self, body: dict):
        """Report what wx.requestSubscribeMessage answered: each accept allows one more reminder message."""
        return {"subscribe_accepts": service.record_subscribe_results(api_user_id(), body["results"])}
