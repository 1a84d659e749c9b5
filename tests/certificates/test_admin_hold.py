"""证书挂失 in the console: 客服 or 审核员 place a hold for a caller whose identity they checked (fresh TOTP, the
reason they typed audited), through the same service as the phone; other roles are refused."""

from __future__ import annotations

import sqlalchemy as sa
from cryptography import x509

from tests.certificates.test_holds import Issued, ca_status, crl_entry, reason_of
from tests.support.staff import make_staff, sign_in_staff
from wxbackend.audit.models import AuditLog
from wxbackend.ca.models import IssuedStatus
from wxbackend.certificates.models import CertificateHold, CertificateStatus
from wxbackend.staff.models import Role


def test_support_places_a_hold_by_serial_with_a_reason_and_a_fresh_totp(app, client, db_session, monkeypatch):
    issued = Issued(organisation="东莞某某制造有限公司")
    staff = make_staff("kefu1", Role.SUPPORT)
    csrf = sign_in_staff(client, staff)
    serial = issued.certificate.serial

    assert "证书挂失" in client.get("/admin/").text  # on the console's menu
    missing = client.get("/admin/certificates/hold?serial=" + serial.lower()).text  # serials are case-sensitive
    assert "没有找到序列号为" in missing and 'id="hold-form"' not in missing
    page = client.get(f"/admin/certificates/hold?serial={serial}").text
    assert "东莞某某制造有限公司" in page and 'id="hold-form"' in page and "有效" in page

    no_reason = client.post("/admin/certificates/hold", data={"csrf_token": csrf, "serial": serial, "reason": " "})
    assert no_reason.status_code == 302
    assert "请填写挂失原因" in client.get(no_reason.headers["Location"]).text
    assert issued.certificate.status == CertificateStatus.VALID
    no_csrf = client.post("/admin/certificates/hold", data={"serial": serial, "reason": "来电"})
    assert no_csrf.status_code == 400 and issued.certificate.status == CertificateStatus.VALID

    monkeypatch.setitem(app.config, "STAFF_FRESH_TOTP_MINUTES", 0)
    form = {"csrf_token": csrf, "serial": serial, "reason": "经办人张三来电，已核对单位名称与身份证后四位"}
    assert client.post("/admin/certificates/hold", data=form).status_code == 428
    assert 'name="totp_code"' in client.get(f"/admin/certificates/hold?serial={serial}").text
    wrong = client.post("/admin/certificates/hold", data={**form, "totp_code": "000000"})
    assert wrong.status_code == 302 and issued.certificate.status == CertificateStatus.VALID

    done = client.post("/admin/certificates/hold", data={**form, "totp_code": staff.next_code()})
    assert done.status_code == 302
    db_session.expire_all()
    assert issued.certificate.status == CertificateStatus.ON_HOLD
    assert ca_status(db_session, serial) == IssuedStatus.ON_HOLD
    hold = db_session.scalar(sa.select(CertificateHold).where(CertificateHold.certificate_id == issued.certificate.id))
    assert hold.reported_by == f"staff:{staff.id}" and hold.reason == form["reason"]
    audit = db_session.scalar(sa.select(AuditLog).where(AuditLog.action == "certificate.hold"))
    assert audit.actor == f"staff:{staff.id}" and audit.detail["reason"] == form["reason"]
    shown = client.get(done.headers["Location"]).text
    assert "已挂失" in shown and 'id="hold-form"' not in shown and form["reason"] in shown
    assert reason_of(crl_entry(client.get("/ca/crl").data, issued.x509)) == x509.ReasonFlags.certificate_hold

    monkeypatch.setitem(app.config, "STAFF_FRESH_TOTP_MINUTES", 5)
    twice = client.post("/admin/certificates/hold", data=form)
    assert twice.status_code == 302 and "该证书已挂失" in client.get(twice.headers["Location"]).text


def test_an_auditor_may_place_a_hold_and_finance_may_not(app, client, db_session):
    issued = Issued()
    auditor = make_staff("shenhe1", Role.AUDITOR)
    csrf = sign_in_staff(client, auditor)
    answer = client.post("/admin/certificates/hold", data={"csrf_token": csrf, "serial": issued.certificate.serial,
                                                           "reason": "核实身份后挂失"})
    db_session.expire_all()
    assert answer.status_code == 302 and issued.certificate.status == CertificateStatus.ON_HOLD

    other = Issued()
    finance = make_staff("caiwu1", Role.FINANCE)
    fin_client = app.test_client()
    fin_csrf = sign_in_staff(fin_client, finance)
    assert fin_client.get("/admin/certificates/hold").status_code == 403
    refused = fin_client.post("/admin/certificates/hold", data={"csrf_token": fin_csrf,
                                                                "serial": other.certificate.serial, "reason": "x"})
    db_session.expire_all()
    assert refused.status_code == 403 and other.certificate.status == CertificateStatus.VALID
    assert "证书挂失" not in fin_client.get("/admin/").text
