"""The issuing CA key inside a PKCS#11 HSM (SoftHSM2)."""

import ctypes
from datetime import timedelta

import pkcs11
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from pkcs11 import Attribute, KeyType, ObjectClass

from tests.conftest import PKCS11_MODULE
from tests.support.x509check import verify_chain
from wxbackend.ca.service import CertSubject, init_ca, issue_certificate, load_authority
from wxbackend.ca.signers import Pkcs11Signer
from wxbackend.core.times import utcnow


def test_hsm_signer_issues_a_certificate_that_verifies(app, db_session, softhsm_store, tmp_path):
    softhsm_store.make_token(label="ca-hsm", pin="hsm-pin-1234")
    softhsm_store.lib()
    hsm_config = {**app.config, "CA_DIR": str(tmp_path / "hsm-ca"), "CA_SIGNER": "pkcs11",
                  "CA_HSM_MODULE": PKCS11_MODULE, "CA_HSM_TOKEN_LABEL": "ca-hsm", "CA_HSM_PIN": "hsm-pin-1234",
                  "CA_HSM_KEY_LABEL": "issuing-ca"}
    assert init_ca(hsm_config) is True
    assert not (tmp_path / "hsm-ca" / "issuing.key.pem").exists(), "the issuing key must stay in the HSM"
    authority = load_authority(hsm_config)

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])).sign(key, hashes.SHA256()))
    now = utcnow().replace(microsecond=0)
    record = issue_certificate(csr.public_bytes(serialization.Encoding.PEM),
                               CertSubject(organisation="深圳某某有限公司", common_name="深圳某某有限公司"),
                               now, now + timedelta(days=30), authority=authority)
    cert = x509.load_pem_x509_certificate(record.pem.encode())
    assert verify_chain(cert, authority.issuing, authority.root).endswith(": OK")
    assert cert.issuer == authority.issuing.subject

    token = softhsm_store.lib().get_token(token_label="ca-hsm")  # reinitialised: the signer's login is gone
    with token.open(user_pin="hsm-pin-1234") as session:
        private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, key_type=KeyType.RSA, label="issuing-ca")
        assert private[Attribute.SENSITIVE] is True
        assert private[Attribute.EXTRACTABLE] is False


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the dead session's finaliser
def test_hsm_signer_opens_a_new_session_once_when_the_hsm_lost_its_own(app, db_session, softhsm_store):
    """What a token rescan or an HSM restart does: every session of the process closed behind the signer's back
    (C_CloseAllSessions through a second handle on the module); the next signature still works."""
    softhsm_store.make_token(label="ca-hsm", pin="hsm-pin-1234")
    lib = softhsm_store.lib()
    signer = Pkcs11Signer.generate(PKCS11_MODULE, "ca-hsm", "hsm-pin-1234", "issuing-ca", bits=2048)
    public_key = signer.public_key()
    public_key.verify(signer.sign(b"before"), b"before", padding.PKCS1v15(), hashes.SHA256())
    lost_session = signer._session

    slot_id = lib.get_token(token_label="ca-hsm").slot.slot_id
    assert ctypes.CDLL(PKCS11_MODULE).C_CloseAllSessions(ctypes.c_ulong(slot_id)) == 0  # CKR_OK
    with pytest.raises(pkcs11.exceptions.SessionHandleInvalid):  # the failure is real
        lost_session.get_key(object_class=ObjectClass.PRIVATE_KEY, key_type=KeyType.RSA, label="issuing-ca")

    signature = signer.sign(b"after the HSM restarted")
    public_key.verify(signature, b"after the HSM restarted", padding.PKCS1v15(), hashes.SHA256())
    assert signer.reopened == 1
    assert signer.public_key() == public_key and signer.reopened == 1  # the new session goes on working

