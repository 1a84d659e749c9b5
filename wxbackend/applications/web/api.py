"""JSON endpoints of the reviewed applications (the mini-program; the same services as the phone's pages)."""

from __future__ import annotations

from flask import Response, current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint

from wxbackend.applications import face, finance, replacement, service
from wxbackend.applications.schemas import (
    AgreementSchema,
    ApplicationDetailSchema,
    ApplicationSchema,
    CodeResultSchema,
    CodeSchema,
    ConsentSchema,
    ListQuerySchema,
    LivenessSchema,
    LivenessStartSchema,
    MaterialsSchema,
    ReplacementLookupSchema,
    ReplacementStartSchema,
    RetrySchema,
    SerialSchema,
    ShippingAddressChoiceSchema,
    UploadSchema,
)
from wxbackend.core.errors import DomainError, NotFound
from wxbackend.orders.models import STATUS_LABELS
from wxbackend.shipping import service as shipping
from wxbackend.web.auth import api_user_id
from wxbackend.web.limits import by_user, limited
from wxbackend.web.schemas import ApiErrorSchema

bp = Blueprint("applications_api", __name__, url_prefix="/api",
               description="过期证书续期与介质遗失补办申请: 证书序列号查询, 协议与授权, 申请资料, 上传, 提交, "
                           "金融认证, 我的业务单")


def mine(application_id: int):
    return service.user_application(api_user_id(), application_id)


@bp.route("/orders/<int:order_id>/application")
class Start(MethodView):
    @bp.response(201, ApplicationDetailSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    @bp.alt_response(409, schema=ApiErrorSchema)
    def post(self, order_id: int):
        """The application of my 编辑中 reviewed order (made on first use)."""
        return service.start(api_user_id(), order_id)


@bp.route("/replacements/lookup")
class ReplacementLookup(MethodView):
    @limited("SERIAL_LOOKUP_LIMIT", scope="serial_lookup", key_func=by_user)
    @bp.arguments(SerialSchema)
    @bp.response(200, ReplacementLookupSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    @bp.alt_response(429, schema=ApiErrorSchema)
    def post(self, body: dict):
        """介质遗失补办: 证书序列号查询 (case-sensitive). Not bound to it: the organisation masked."""
        return replacement.lookup(api_user_id(), body["serial"])


@bp.route("/replacements")
class Replacements(MethodView):
    @bp.arguments(ReplacementStartSchema)
    @bp.response(201, ApplicationDetailSchema)
    @bp.alt_response(403, schema=ApiErrorSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    @bp.alt_response(409, schema=ApiErrorSchema)
    def post(self, body: dict):
        """补办 the certificate with this serial at the fee shown (409 price_changed otherwise): the replacement
        order and its application (my open one when there is one)."""
        return replacement.start(api_user_id(), body["serial"], body["amount_fen"], ip=request.remote_addr or "",
                                 agreement_version=body["agreement_version"])


@bp.route("/applications/<int:application_id>/address")
class Address(MethodView):
    @bp.arguments(ShippingAddressChoiceSchema)
    @bp.response(200, ApplicationDetailSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    @bp.alt_response(409, schema=ApiErrorSchema)
    def put(self, body: dict, application_id: int):
        """介质遗失补办: the new key's 邮寄地址, one of 我的地址 (changeable until shipped)."""
        found = mine(application_id)
        if found.kind != "replacement":
            raise NotFound("该申请无需寄送介质")
        shipping.choose_address(api_user_id(), found.order_id, body["address_id"])
        return found


@bp.route("/applications")
class Applications(MethodView):
    @bp.arguments(ListQuerySchema, location="query")
    @bp.response(200, ApplicationSchema(many=True))
    def get(self, query: dict):
        """我的业务单, by status and by creation day (Asia/Shanghai)."""
        if query["status"] and query["status"] not in STATUS_LABELS:
            raise DomainError("无效的状态", code="invalid_status")
        return service.user_applications(api_user_id(), query["status"], query["date_from"], query["date_to"])


@bp.route("/applications/<int:application_id>")
class Detail(MethodView):
    @bp.response(200, ApplicationDetailSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    def get(self, application_id: int):
        """One of my applications: masked materials, what is missing, the review's outcome, 金融认证."""
        return mine(application_id)


@bp.route("/applications/<int:application_id>/agreement")
class Agreement(MethodView):
    @bp.response(200, AgreementSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    def get(self, application_id: int):
        """The texts to show in full before consenting."""
        mine(application_id)
        return {"agreement_version": service.AGREEMENT_VERSION, "agreement": service.agreement_text(),
                "consent_version": service.CONSENT_VERSION, "consent": service.consent_text()}

    @bp.arguments(ConsentSchema)
    @bp.response(200, ApplicationDetailSchema)
    @bp.alt_response(400, schema=ApiErrorSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    def post(self, body: dict, application_id: int):
        """Agree to the service agreement and, separately, consent to the sensitive personal data."""
        return service.agree(api_user_id(), mine(application_id).id, body["agreement"], body["consent"])


@bp.route("/applications/<int:application_id>/materials")
class Materials(MethodView):
    @bp.arguments(MaterialsSchema)
    @bp.response(200, ApplicationDetailSchema)
    @bp.alt_response(400, schema=ApiErrorSchema)
    @bp.alt_response(403, schema=ApiErrorSchema)
    @bp.alt_response(409, schema=ApiErrorSchema)
    def put(self, body: dict, application_id: int):
        """Save the materials (400 invalid_fields names each wrong field)."""
        found = mine(application_id)
        service.save_materials(api_user_id(), found.id, body)
        return found


@bp.route("/applications/<int:application_id>/form.pdf")
class FormPdf(MethodView):
    @bp.response(200, content_type="application/pdf", description="申请表 PDF（打印后签字盖章）")
    @bp.alt_response(404, schema=ApiErrorSchema)
    @bp.alt_response(409, schema=ApiErrorSchema)
    def get(self, application_id: int):
        """The printable application form of the newest revision."""
        found = mine(application_id)
        return Response(service.form_pdf(api_user_id(), found.id), mimetype="application/pdf", headers={
            "Cache-Control": "no-store", "Content-Disposition": f'attachment; filename="{found.application_no}.pdf"'})


UPLOAD_BODY = {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["kind", "file"],
    "properties": {"kind": {"type": "string", "enum": ["form", "licence", "id_front", "id_back"]},
                   "file": {"type": "string", "format": "binary"}}}}}}


@bp.route("/applications/<int:application_id>/uploads")
class Uploads(MethodView):
    @bp.doc(requestBody=UPLOAD_BODY)
    @bp.response(201, UploadSchema)
    @bp.alt_response(400, schema=ApiErrorSchema)
    @bp.alt_response(403, schema=ApiErrorSchema)
    @bp.alt_response(409, schema=ApiErrorSchema)
    def post(self, application_id: int):
        """Upload one scan (multipart: `kind` form|licence|id_front|id_back, `file`): jpg/jpeg/bmp/gif/png, at most
        2 MB. The 经办人's ID photos (id_front, id_back) are deleted once 活体认证 is done."""
        sent = request.files.get("file")
        data = sent.read(current_app.config["UPLOAD_MAX_BYTES"] + 1) if sent else b""
        return service.add_upload(api_user_id(), mine(application_id).id, request.form.get("kind", ""), data)


@bp.route("/applications/<int:application_id>/liveness")
class Liveness(MethodView):
    @bp.response(200, LivenessSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    @bp.alt_response(502, schema=ApiErrorSchema)
    def get(self, application_id: int):
        """活体认证: the latest check's status (pulled from the provider while pending) and whether the 经办人
        passed."""
        return face.liveness_state(api_user_id(), application_id)

    @bp.response(201, LivenessStartSchema)
    @bp.alt_response(403, schema=ApiErrorSchema)
    @bp.alt_response(404, schema=ApiErrorSchema)
    @bp.alt_response(409, schema=ApiErrorSchema)
    @bp.alt_response(502, schema=ApiErrorSchema)
    def post(self, application_id: int):
        """Start 活体认证 of the current 经办人 (materials saved, both ID photos uploaded through …/uploads as
        `id_front` and `id_back`): the provider's page to open. 409 no_materials, id_photos_missing, liveness_passed."""
        check, url = face.start_liveness(api_user_id(), mine(application_id).id)
        return {"status": check.status, "label": check.status_label, "passed": False, "url": url}


@bp.route("/applications/<int:application_id>/submit")
class Submit(MethodView):
    @bp.response(200, ApplicationDetailSchema)
    @bp.alt_response(409, schema=ApiErrorSchema)
    def post(self, application_id: int):
        """Submit (first time: the order becomes 待支付; after 未通过: 待审核 again)."""
        return service.submit(api_user_id(), mine(application_id).id)


@bp.route("/applications/<int:application_id>/verification/code")
class Code(MethodView):
    @bp.arguments(CodeSchema)
    @bp.response(200, CodeResultSchema)
    @bp.alt_response(400, schema=CodeResultSchema)
    @bp.alt_response(409, schema=ApiErrorSchema)
    def post(self, body: dict, application_id: int):
        """The code from the 0.01-yuan payment's remark; a wrong one answers 400 with the tries left (counted)."""
        result = finance.enter_code(api_user_id(), mine(application_id).id, body["code"])
        return CodeResultSchema().dump(result), 200 if result.ok else 400


@bp.route("/applications/<int:application_id>/verification/retry")
class Retry(MethodView):
    @bp.arguments(RetrySchema)
    @bp.response(200, ApplicationDetailSchema)
    @bp.alt_response(400, schema=ApiErrorSchema)
    @bp.alt_response(409, schema=ApiErrorSchema)
    def post(self, body: dict, application_id: int):
        """After 金融认证失败: the corrected basic account; a new 0.01-yuan payout."""
        found = mine(application_id)
        finance.require_fields(body["bank_name"], body["bank_account"])
        finance.retry(api_user_id(), found.id, body["bank_name"], body["bank_account"])
        return found
