"""The 经办人's ID photos and liveness through the FaceID-shaped provider, against the fake on 127.0.0.1: the
result is pulled server-side (a forged "success" redirect verifies nothing), a failure and an expired token are
recorded as such, and the ID photos are deleted once verified (only the result and the reference are kept)."""

from __future__ import annotations

import pytest
import requests

from tests.support.applications import expired_order, jpeg, materials
from tests.support.flows import sign_in
from wxbackend.applications import face, service
from wxbackend.applications.models import UploadKind
from wxbackend.core.errors import Conflict
from wxbackend.core.files import file_store


@pytest.fixture
def stores(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "FILE_STORE_DIR", str(tmp_path / "files"))
    return tmp_path


def with_photos(order):
    application = service.start(order.user_id, order.id)
    service.agree(order.user_id, application.id, True, True)
    service.save_materials(order.user_id, application.id, materials())
    service.add_upload(order.user_id, application.id, "id_front", jpeg((856, 540)))
    service.add_upload(order.user_id, application.id, "id_back", jpeg((856, 540)))
    return application


def test_no_liveness_before_the_id_photos(db_session, stores, fake_liveness):
    order = expired_order()
    application = service.start(order.user_id, order.id)
    service.agree(order.user_id, application.id, True, True)
    service.save_materials(order.user_id, application.id, materials())
    with pytest.raises(Conflict) as refused:
        face.start_liveness(order.user_id, application.id)
    assert refused.value.code == "id_photos_missing"


def test_a_forged_success_redirect_verifies_nothing(db_session, stores, fake_liveness):
    order = expired_order()
    application = with_photos(order)
    check, url = face.start_liveness(order.user_id, application.id)
    assert url.startswith(fake_liveness.base_url)  # the provider's hosted page
    forged = requests.get(fake_liveness.forged_redirect_url(check.biz_token), allow_redirects=False, timeout=5)
    assert f"BizToken={check.biz_token}" in forged.headers["Location"]
    assert face.pull_liveness(order.user_id, application.id).status == "pending"  # the provider says: not done
    assert not service.passed_for_current_agent(application)
    assert "上传经办人身份证照片并完成活体认证" in service.missing_parts(application)


def test_passed_keeps_the_result_and_deletes_the_id_photos(db_session, stores, fake_liveness):
    order = expired_order()
    application = with_photos(order)
    keys = [u.store_key for u in application.uploads]
    check, _ = face.start_liveness(order.user_id, application.id)
    fake_liveness.finish(check.biz_token, "passed")
    check = face.pull_liveness(order.user_id, application.id)
    assert check.status == "passed" and check.reference and check.similarity
    assert service.passed_for_current_agent(application)
    assert not any(file_store().exists(k) for k in keys)
    assert all(u.deleted_at is not None for u in application.uploads if u.kind in (UploadKind.ID_FRONT,
                                                                                 UploadKind.ID_BACK))
    with pytest.raises(Conflict):
        face.start_liveness(order.user_id, application.id)  # already passed
    # a revision naming another 经办人 needs a check of its own
    service.save_materials(order.user_id, application.id, materials(agent_name="李四",
                                                                     agent_id_number="11010519491231002X"))
    assert not service.passed_for_current_agent(application)


def test_failed_and_expired_checks_are_recorded(db_session, stores, fake_liveness):
    order = expired_order()
    application = with_photos(order)
    check, _ = face.start_liveness(order.user_id, application.id)
    fake_liveness.finish(check.biz_token, "failed")
    assert face.pull_liveness(order.user_id, application.id).status == "failed"
    assert file_store().exists(service.current_uploads(application)["id_front"].store_key)  # photos kept to retry
    again, _ = face.start_liveness(order.user_id, application.id)
    fake_liveness.expire(again.biz_token)
    assert face.pull_liveness(order.user_id, application.id).status == "expired"
    assert not service.passed_for_current_agent(application)


def test_the_return_url_pulls_the_result_and_the_pc_follows_it(client, db_session, stores, fake_liveness):
    csrf = sign_in(client, "活体人")
    from tests.support.applications import make_user_verified

    user = make_user_verified("dev-活体人")
    order = expired_order(user=user)
    application = with_photos(order)
    started = client.post(f"/h5/applications/{application.id}/liveness/start", data={"csrf_token": csrf})
    assert started.headers["Location"].startswith(fake_liveness.base_url)
    check = face.latest(application.id)
    forged = client.get(f"/h5/applications/{application.id}/liveness/return?BizToken={check.biz_token}",
                        follow_redirects=True)
    assert "尚未完成活体认证" in forged.text
    assert client.get(f"/h5/applications/{application.id}/liveness/status").json["status"] == "pending"
    fake_liveness.finish(check.biz_token, "passed")
    status = client.get(f"/h5/applications/{application.id}/liveness/status").json  # what the PC page polls
    assert status["passed"] is True and status["status"] == "passed"


def test_the_mini_program_uploads_the_id_photos_and_follows_liveness(client, db_session, stores, fake_liveness):
    import io

    from tests.support.factories import make_user
    from wxbackend.web.auth import issue_api_token

    order = expired_order()
    application = service.start(order.user_id, order.id)
    service.agree(order.user_id, application.id, True, True)
    service.save_materials(order.user_id, application.id, materials())
    db_session.commit()
    me = {"Authorization": f"Bearer {issue_api_token(order.user_id)[0]}"}
    path = f"/api/applications/{application.id}/liveness"
    assert client.get(path, headers=me).json == {"status": "none", "label": "未开始", "passed": False}
    early = client.post(path, headers=me)
    assert early.status_code == 409 and early.json["code"] == "id_photos_missing" and "身份证" in early.json["message"]
    for kind in ("id_front", "id_back"):
        sent = client.post(f"/api/applications/{application.id}/uploads", headers=me,
                           data={"kind": kind, "file": (io.BytesIO(jpeg((856, 540))), "id.jpg")},
                           content_type="multipart/form-data")
        assert sent.status_code == 201, sent.json
    started = client.post(path, headers=me)
    assert started.status_code == 201 and started.json["url"].startswith(fake_liveness.base_url)
    assert started.json["status"] == "pending" and started.json["passed"] is False
    assert client.get(path, headers=me).json["status"] == "pending"  # the provider says: not done yet
    fake_liveness.finish(face.latest(application.id).biz_token, "passed")
    assert client.get(path, headers=me).json == {"status": "passed", "label": face.latest(application.id).status_label,
                                                 "passed": True}
    again = client.post(path, headers=me)
    assert again.status_code == 409 and again.json["code"] == "liveness_passed"

    stranger = {"Authorization": f"Bearer {issue_api_token(make_user('李四').id)[0]}"}
    db_session.commit()
    for method in ("get", "post"):
        refused = getattr(client, method)(path, headers=stranger)
        assert refused.status_code == 404 and refused.json["code"] == "not_found" and "没有找到" in \
            refused.json["message"]
