"""`flask demo make-key` makes a SoftHSM2 token that looks like a customer's key."""

import hashlib
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from cryptography import x509
from cryptography.x509.oid import NameOID
from pkcs11 import Attribute, KeyType, ObjectClass

from tests.support.x509check import verify_chain
from ukey_helper.token import rsa_public_key
from wxbackend.ca.service import get_authority
from wxbackend.certificates.models import Certificate


def test_make_key_command_creates_a_token_like_a_customers(app, db_session, softhsm_store):
    result = app.test_cli_runner().invoke(args=[
        "demo", "make-key", "--org", "广州某某科技有限公司", "--expires-in-days", "30", "--legal-rep", "李四",
        "--city", "广州市", "--province", "广东省", "--email", "it@example.cn", "--credit-code", "91440101MA59TEXK0J",
        "--app", "广东省政府采购网:2027-03-01", "--app", "中国招标投标公共服务平台:2026-12-31",
    ])
    assert result.exit_code == 0, result.output
    record = db_session.scalar(sa.select(Certificate).where(Certificate.subject_o == "广州某某科技有限公司"))
    assert record.medium_number in result.output
    assert record.legal_representative == "李四"
    assert record.credit_code == "91440101MA59TEXK0J"
    shanghai = ZoneInfo("Asia/Shanghai")
    assert [(a.name, a.expires_at.astimezone(shanghai).isoformat()) for a in record.apps] == [
        ("广东省政府采购网", "2027-03-01T23:59:59+08:00"), ("中国招标投标公共服务平台", "2026-12-31T23:59:59+08:00")]

    token = softhsm_store.lib().get_token(token_label="DEMO UKEY")
    assert token.serial.decode() == record.medium_number
    with token.open(user_pin="12345678") as session:
        private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, key_type=KeyType.RSA)
        public = session.get_key(object_class=ObjectClass.PUBLIC_KEY, key_type=KeyType.RSA)
        cert_obj = next(session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE}))
        cert = x509.load_der_x509_certificate(cert_obj[Attribute.VALUE])
        pub = rsa_public_key(public)
        assert private[Attribute.SENSITIVE] is True and private[Attribute.EXTRACTABLE] is False
        assert cert.public_key().public_numbers() == pub.public_numbers()
        expected_id = x509.SubjectKeyIdentifier.from_public_key(pub).digest
        assert bytes(private[Attribute.ID]) == bytes(public[Attribute.ID]) == bytes(cert_obj[Attribute.ID]) \
            == expected_id
        assert len(expected_id) == len(hashlib.sha1().digest())

    assert format(cert.serial_number, "X") == record.serial
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "广州某某科技有限公司"
    assert cert.subject.get_attributes_for_oid(NameOID.LOCALITY_NAME)[0].value == "广州市"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value == "NTRCN-91440101MA59TEXK0J"
    days_left = (record.not_after - record.not_before).days
    assert days_left == 365
    authority = get_authority()
    verify_chain(cert, authority.issuing, authority.root)


def test_bad_app_option_is_a_clear_error(app, db_session, softhsm_store):
    result = app.test_cli_runner().invoke(args=["demo", "make-key", "--org", "x", "--app", "没有日期"])
    assert result.exit_code == 2
    assert "应用名称:YYYY-MM-DD" in result.output
