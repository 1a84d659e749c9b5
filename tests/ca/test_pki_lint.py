"""Every certificate and CRL the CA makes, checked by tools nobody on the project wrote (issue 17): pkilint's PKIX
linters (no ERROR, no WARNING) and its chain linter, pyhanko-certvalidator with revocation `require`, and
`openssl verify -crl_check_all` — with the file signer and with the HSM signer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.ca.pki_support import SUBJECT, certvalidator_verdict, der, make_pki, openssl_verify
from tests.support.pkilint_check import lint_certificate, lint_chain, lint_revocation_list
from wxbackend.ca.service import (
    CertSubject,
    build_crl,
    current_root_crl,
    reissue_issuing_certificate,
    revoke_certificate,
    revoke_issuing_ca,
    serial_hex,
    sign_root_crl,
)
from wxbackend.certificates.service import record_certificate
from wxbackend.core.errors import DomainError
from wxbackend.core.times import utcnow


@pytest.fixture(params=["file", "pkcs11"])
def pki(request, app, db_session, tmp_path):
    softhsm_store = request.getfixturevalue("softhsm_store") if request.param == "pkcs11" else None
    return make_pki(dict(app.config), tmp_path, request.param, softhsm_store)


@pytest.fixture
def file_pki(app, db_session, tmp_path):
    """For what does not depend on where the issuing key lives."""
    return make_pki(dict(app.config), tmp_path, "file")


def crl_number(crl_der: bytes) -> int:
    return x509.load_der_x509_crl(crl_der).extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def test_every_kind_of_certificate_lints_clean_and_chains(pki):
    without_email = CertSubject(organisation="深圳某某有限公司", common_name="深圳某某有限公司")
    with_email, plain = pki.issue(), pki.issue(without_email)
    recorded = record_certificate(with_email, medium_number="TOKEN0001")
    renewed = pki.issue(CertSubject(organisation=recorded.subject_o, common_name=recorded.subject_cn,
                                    locality=recorded.subject_l, province=recorded.subject_st, email=recorded.email,
                                    credit_code=recorded.credit_code))
    ocsp_signer = pki.ocsp_signer()
    old_issuing = pki.authority.issuing
    reissue_issuing_certificate(pki.config, pki.root_signer())
    pki.reload()

    for name, cert in [("root", pki.authority.root), ("issuing", old_issuing),
                       ("reissued issuing", pki.authority.issuing), ("ocsp signer", ocsp_signer),
                       ("end entity with email", with_email),
                       ("end entity without email", plain), ("renewed", renewed)]:
        assert lint_certificate(cert) == "", name
    for issuer, subject in [(pki.authority.root, old_issuing), (pki.authority.root, pki.authority.issuing),
                            (pki.authority.issuing, ocsp_signer), (pki.authority.issuing, with_email),
                            (pki.authority.issuing, plain), (pki.authority.issuing, renewed),
                            (old_issuing, renewed)]:
        assert lint_chain(issuer, subject) == ""
    assert renewed.subject == with_email.subject


def test_every_crl_lints_clean_and_is_numbered_upwards(pki):
    empty = build_crl(pki.authority)
    revoked = [pki.issue() for _ in range(3)]
    revoke_certificate(serial_hex(revoked[0].serial_number))  # no reason given
    revoke_certificate(serial_hex(revoked[1].serial_number), "key_compromise")
    revoke_certificate(serial_hex(revoked[2].serial_number), "superseded", void=True)
    listing = build_crl(pki.authority)
    first_root = current_root_crl().der
    revoke_issuing_ca(pki.config, serial_hex(pki.authority.issuing.serial_number), "key_compromise")
    root_listing = sign_root_crl(pki.config, pki.root_signer()).der

    for crl in (empty, listing):
        assert lint_revocation_list(crl) == ""
    for crl in (first_root, root_listing):
        assert lint_revocation_list(crl, authority=True) == ""
    assert crl_number(listing) > crl_number(empty)
    assert crl_number(root_listing) > crl_number(first_root)
    entries = {e.serial_number: e for e in x509.load_der_x509_crl(listing)}
    assert set(entries) >= {c.serial_number for c in revoked}
    assert not any(isinstance(ext.value, x509.CRLReason) for ext in entries[revoked[0].serial_number].extensions)
    assert entries[revoked[1].serial_number].extensions.get_extension_for_class(x509.CRLReason).value.reason \
        == x509.ReasonFlags.key_compromise
    root_crl = x509.load_der_x509_crl(root_listing)
    assert root_crl.is_signature_valid(pki.authority.root.public_key())
    assert root_crl.get_revoked_certificate_by_serial_number(pki.authority.issuing.serial_number) is not None


def test_the_linters_do_flag_what_the_issue_found(file_pki):
    """The harness is not blind: the old profile's faults are reported."""
    now, root_key = utcnow(), file_pki.root_signer()._key
    issuing = file_pki.authority.issuing
    builder = (x509.CertificateBuilder().subject_name(SUBJECT.to_name()).issuer_name(issuing.subject)
               .public_key(issuing.public_key()).serial_number(12345678901234567890)
               .not_valid_before(now).not_valid_after(now + timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
    old_style = builder.sign(root_key, hashes.SHA256())
    assert "pkix.subject_email_address_not_in_san" in lint_certificate(old_style)
    unnumbered = (x509.CertificateRevocationListBuilder().issuer_name(issuing.subject)
                  .last_update(now).next_update(now + timedelta(days=7)).sign(root_key, hashes.SHA256()))
    assert "pkix.crl_number_missing" in lint_revocation_list(der(unnumbered))


def test_end_entity_profile_signs_only_and_points_at_the_configured_urls(file_pki, app):
    cert = file_pki.issue()
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert (usage.digital_signature, usage.content_commitment, usage.key_encipherment, usage.data_encipherment) \
        == (True, True, False, False)
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value \
        .get_values_for_type(x509.RFC822Name) == ["it@example.cn"]
    dp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value[0]
    assert dp.full_name[0].value == app.config["CA_CRL_URL"] == "http://127.0.0.1:5000/ca/crl"
    aia = {d.access_method: d.access_location.value
           for d in cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value}
    assert aia == {x509.oid.AuthorityInformationAccessOID.CA_ISSUERS: "http://127.0.0.1:5000/ca/issuing.cer",
                   x509.oid.AuthorityInformationAccessOID.OCSP: "http://127.0.0.1:5000/ca/ocsp"}
    policy = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value[0]
    assert policy.policy_identifier.dotted_string == app.config["CA_POLICY_OID"]
    assert policy.policy_qualifiers == [app.config["CA_CPS_URL"]]
    issuing_dp = file_pki.authority.issuing.extensions.get_extension_for_class(x509.CRLDistributionPoints).value[0]
    assert issuing_dp.full_name[0].value == "http://127.0.0.1:5000/ca/root.crl"
    ocsp = file_pki.ocsp_signer()
    assert ocsp.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.OCSP_SIGNING])
    assert ocsp.extensions.get_extension_for_class(x509.OCSPNoCheck)
    assert ocsp.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature


def test_validators_require_revocation_data_and_honour_both_crls(pki):
    good, revoked = pki.issue(), pki.issue()
    revoke_certificate(serial_hex(revoked.serial_number), "key_compromise")
    crls = [build_crl(pki.authority), current_root_crl().der]

    assert certvalidator_verdict(good, pki.authority, crls) == "valid"
    assert "revoked" in certvalidator_verdict(revoked, pki.authority, crls).lower()
    assert certvalidator_verdict(good, pki.authority, crls[:1]) != "valid"  # no root CRL: `require` fails
    checked = openssl_verify(good, pki.authority, crls)
    assert checked.returncode == 0 and checked.stdout.strip().endswith(": OK"), checked.stdout + checked.stderr
    refused = openssl_verify(revoked, pki.authority, crls)
    assert refused.returncode != 0 and "certificate revoked" in refused.stdout + refused.stderr

    revoke_issuing_ca(pki.config, serial_hex(pki.authority.issuing.serial_number), "ca_compromise")
    crls = [build_crl(pki.authority), sign_root_crl(pki.config, pki.root_signer()).der]
    assert "revoked" in certvalidator_verdict(good, pki.authority, crls).lower()
    refused = openssl_verify(good, pki.authority, crls)
    assert refused.returncode != 0 and "certificate revoked" in refused.stdout + refused.stderr


def test_credit_code_is_in_the_subject_and_on_the_certificate_record(file_pki, db_session):
    cert = file_pki.issue()
    identifiers = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)
    assert [a.value for a in identifiers] == [f"NTRCN-{SUBJECT.credit_code}"]
    assert record_certificate(cert, medium_number="TOKEN0002").credit_code == SUBJECT.credit_code
    wrong_check = SUBJECT.credit_code[:17] + ("0" if SUBJECT.credit_code[17] != "0" else "1")
    for code, message in [(wrong_check, "校验位不正确"), ("91440101MA59TEXK0O", "无效字符"), ("9144", "18位")]:
        with pytest.raises(DomainError, match=message):
            file_pki.issue(CertSubject(organisation="某公司", common_name="某公司", credit_code=code))


def test_end_entity_validity_stops_at_the_issuing_ca(file_pki):
    cert = file_pki.issue(days=365 * 30)
    assert cert.not_valid_after_utc == file_pki.authority.issuing.not_valid_after_utc
