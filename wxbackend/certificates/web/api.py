"""我的数字证书 and 证书详情 as JSON, scoped to the signed-in user; 挂失 and 解除挂失 for the mini-program."""

from __future__ import annotations

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint

from wxbackend.certificates import revocation
from wxbackend.certificates.schemas import CertificateDetailSchema, CertificateHoldSchema, CertificateSummarySchema
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


@bp.route("/certificates/<int:certificate_id>/hold")
class CertificateHold(MethodView):
    @bp.response(201, CertificateHoldSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    @bp.alt_response(409, schema=ApiErrorSchema)
    def post(self, certificate_id: int):
        """挂失: the key is lost; the certificate is suspended at once (已挂失, certificateHold on the next CRL) and
        cannot be bound, renewed or ordered for. 409 `already_on_hold`, or when it is revoked or superseded."""
        return revocation.report_lost(api_user_id(), certificate_id, request.remote_addr or "")

    @bp.response(200, CertificateDetailSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    @bp.alt_response(409, schema=ApiErrorSchema)
    def delete(self, certificate_id: int):
        """解除挂失 (the key was found): the certificate is usable again and absent from the next CRL.
        409 `not_on_hold` when there is no hold."""
        return revocation.withdraw_hold(api_user_id(), certificate_id, request.remote_addr or "")
