"""The 电子认证服务协议 for the mini-program: its current text and version, and accepting it (an order may instead
carry `agreement_version`)."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from wxbackend.agreements import service
from wxbackend.agreements.schemas import AgreementAcceptSchema, ServiceAgreementSchema
from wxbackend.web.auth import api_user_id
from wxbackend.web.schemas import FieldErrorsSchema

bp = Blueprint("agreements_api", __name__, url_prefix="/api", description="电子认证服务协议")


def shown(user_id: int) -> dict:
    document = service.SERVICE_AGREEMENT
    accepted = service.acceptance(user_id, document)
    return {"document": document.name, "title": document.title, "version": document.version, "text": document.text,
            "accepted": accepted is not None, "accepted_at": accepted.at if accepted else None}


@bp.route("/agreements/service")
class ServiceAgreement(MethodView):
    @bp.response(200, ServiceAgreementSchema)
    def get(self):
        """The current 电子认证服务协议 in full, and whether I accepted it (needed before my first order)."""
        return shown(api_user_id())

    @bp.arguments(AgreementAcceptSchema)
    @bp.response(200, ServiceAgreementSchema)
    @bp.alt_response(400, schema=FieldErrorsSchema)
    def post(self, body: dict):
        """Accept the version shown (400 `agreement_required` when the text changed meanwhile)."""
        service.accept(api_user_id(), service.SERVICE_AGREEMENT, body["version"])
        return shown(api_user_id())
