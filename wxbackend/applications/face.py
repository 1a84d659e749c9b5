"""经办人 ID photos and 活体认证 (the seed's step 6) through the liveness provider (`integrations.liveness`, FaceID's
DetectAuth shape): the ID photos go up, `start_liveness` asks the provider for a BizToken and its hosted page, the
phone goes there and comes back to our return URL, and `pull_liveness` asks the provider for the result — a
redirect (forged or not) changes nothing by itself. Once the check is done the ID photos are deleted from the file
store; only the result and the provider's reference are kept. On the PC the page shows a QR code of the phone's
page and follows the check by pulling the same result."""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app

from wxbackend.applications import service
from wxbackend.applications.models import LivenessCheck, LivenessStatus, UploadKind
from wxbackend.applications.transitions import LIVENESS_STATES
from wxbackend.audit.service import record_audit
from wxbackend.core.db import db
from wxbackend.core.errors import Conflict
from wxbackend.core.files import file_store
from wxbackend.core.times import utcnow
from wxbackend.integrations.liveness import liveness_provider

RESULTS = {"passed": LivenessStatus.PASSED, "failed": LivenessStatus.FAILED, "expired": LivenessStatus.EXPIRED}


def latest(application_id: int) -> LivenessCheck | None:
    return db.session.scalar(sa.select(LivenessCheck).where(LivenessCheck.application_id == application_id)
                             .order_by(LivenessCheck.id.desc()).limit(1))


def liveness_state(user_id: int, application_id: int) -> dict:
    """Where the application's 活体认证 stands (what the PC page and the mini-program follow): the latest check's
    status, pulled from the provider while it is pending, and whether the current 经办人 has passed. NotFound for
    anyone else's application, UpstreamError (the provider)."""
    application = service.user_application(user_id, application_id)
    check = latest(application.id)
    if check is not None and check.status == LivenessStatus.PENDING:
        check = pull_liveness(user_id, application.id)
    return {"status": check.status if check else "none", "label": check.status_label if check else "未开始",
            "passed": service.passed_for_current_agent(application)}


def return_url(application_id: int) -> str:
    return f"{current_app.config['PUBLIC_BASE_URL']}/h5/applications/{application_id}/liveness/return"


def start_liveness(user_id: int, application_id: int) -> tuple[LivenessCheck, str]:
    """A new check of the current 经办人 (name, ID number, the ID photo): the row and the provider's page to open.
    Raises ConsentRequired, NotEditable, Conflict (no materials, ID photos missing, already passed), UpstreamError
    (the provider: nothing kept)."""
    application = service.lock_application(service.user_application(user_id, application_id).id)
    service._consented(application)
    service._editable(application)
    data = service.current_materials(application)
    if data is None:
        raise Conflict("请先填写并保存申请资料（经办人信息）", code="no_materials")
    if service.passed_for_current_agent(application):
        raise Conflict("经办人已完成活体认证", code="liveness_passed")
    photos = service.current_uploads(application)
    if UploadKind.ID_FRONT not in photos or UploadKind.ID_BACK not in photos:
        raise Conflict("请先上传经办人身份证正反面照片", code="id_photos_missing")
    front = file_store().get(photos[UploadKind.ID_FRONT].store_key)
    provider = liveness_provider()
    started = provider.start(name=data["agent_name"], id_number=data["agent_id_number"], id_photo=front,
                             redirect_url=return_url(application.id), extra=application.application_no)
    check = LivenessCheck(application_id=application.id, biz_token=started.biz_token[:128], provider=provider.name,
                          agent_id_hash=service.agent_hash(application), status=LivenessStatus.PENDING,
                          created_at=utcnow())
    db.session.add(check)
    db.session.flush()
    record_audit(f"user:{user_id}", "application.liveness.start", target=f"application:{application.id}",
                 detail={"provider": provider.name, "check": check.id})
    return check, started.url


def pull_liveness(user_id: int, application_id: int) -> LivenessCheck | None:
    """Ask the provider for the result of the application's pending check (whatever the return URL carried) and
    keep it; on a finished check the ID photos are deleted. None when no check was started. UpstreamError."""
    application = service.lock_application(service.user_application(user_id, application_id).id)
    check = latest(application.id)
    if check is None or check.status != LivenessStatus.PENDING:
        return check
    result = liveness_provider().result(check.biz_token)
    if result.status not in RESULTS:
        return check  # still on the provider's page
    LIVENESS_STATES.move(check, RESULTS[result.status])
    check.reference, check.similarity = result.reference[:128], result.similarity
    check.reason, check.finished_at = result.reason[:200], utcnow()
    if check.status == LivenessStatus.PASSED:
        _delete_id_photos(application)
    db.session.flush()
    record_audit(f"user:{user_id}", "application.liveness.result", target=f"application:{application.id}",
                 result="ok" if check.status == LivenessStatus.PASSED else "failed",
                 detail={"status": check.status, "reference": check.reference, "check": check.id})
    return check


def _delete_id_photos(application) -> None:
    """Verified: the ID photos are no longer needed; their files go, the rows say when."""
    now = utcnow()
    for upload in application.uploads:
        if upload.kind in (UploadKind.ID_FRONT, UploadKind.ID_BACK) and upload.deleted_at is None:
            file_store().delete(upload.store_key)
            upload.deleted_at, upload.replaced_at = now, upload.replaced_at or now
