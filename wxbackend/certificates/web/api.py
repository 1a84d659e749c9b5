"""我的数字证书 and 证书详情 as JSON, scoped to the signed-in user."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from wxbackend.certificates.schemas import CertificateDetailSchema, CertificateSummarySchema
from wxbackend.certificates.service import user_certificate, user_certificates
from wxbackend.web.auth import api_user_id
from wxbackend.web.schemas import ApiErrorSchema

bp = Blueprint("certificates_api", __name__, url_prefix="/api", description="我的数字证书")


@bp.route("/certificates")
class Certificates(MethodView):
    @bp.response(200, CertificateSummarySchema(many=True))
    @bp.alt_response(401, schema=ApiErrorSchema)
    def get(self):
        """我的数字证书: certificates bound to the signed-in user."""
        return user_certificates(api_user_id())


@bp.route("/certificates/<int:certificate_id>")
class CertificateDetail(MethodView):
    @bp.response(200, CertificateDetailSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    def get(self, certificate_id: int):
        """证书详情 with 我的应用."""
        return user_certificate(api_user_id(), certificate_id)
