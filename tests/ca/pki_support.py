"""A CA of its own for a test, with either signer (file or SoftHSM2), its root key "offline" in another
directory, and the relying parties' tools: pyhanko-certvalidator and `openssl verify -crl_check_all`."""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pyhanko_certvalidator import CertificateValidator, ValidationContext

from tests.conftest import PKCS11_MODULE
from wxbackend.ca import profiles
from wxbackend.ca.service import (
    Authority,
    CertSubject,
    _builder,
    init_ca,
    issue_certificate,
    load_authority,
    load_root_signer,
    sign_root_crl,
)
from wxbackend.ca.signers import FileSigner
from wxbackend.ca.x509build import sign_certificate
from wxbackend.core.times import utcnow
from wxbackend.core.validation import uscc_check_character

CREDIT_CODE = "91440101MA59TEXK0" + uscc_check_character("91440101MA59TEXK0")
SUBJECT = CertSubject(organisation="广州某某科技有限公司", common_name="广州某某科技有限公司", locality="广州市",
                      province="广东省", email="it@example.cn", credit_code=CREDIT_CODE)
HSM_PIN = "hsm-pin-1234"


@dataclass
class Pki:
    config: dict
    authority: Authority
    root_key_path: Path

    def root_signer(self) -> FileSigner:
        return load_root_signer(self.config, self.root_key_path)

    def issue(self, subject: CertSubject = SUBJECT, days: int = 365) -> x509.Certificate:
        now = utcnow().replace(microsecond=0)
        record = issue_certificate(make_csr()[1], subject, now - timedelta(minutes=5), now + timedelta(days=days),
                                   authority=self.authority)
        return x509.load_pem_x509_certificate(record.pem.encode())

    def ocsp_signer(self) -> x509.Certificate:
        """A delegated OCSP responder certificate from the profile the OCSP responder uses."""
        public_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
        now = utcnow().replace(microsecond=0)
        name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.config["CA_NAME"]),
                          x509.NameAttribute(NameOID.COMMON_NAME, "OCSP 响应服务")])
        builder = _builder(name, self.authority.issuing.subject, public_key, now, now + timedelta(days=30))
        extensions = profiles.ocsp_signer_extensions(public_key, self.authority.issuing.public_key())
        return sign_certificate(profiles.with_extensions(builder, extensions), self.authority.signer)

    def reload(self) -> None:
        self.authority = load_authority(self.config)


def make_csr(bits: int = 2048) -> tuple[rsa.RSAPrivateKey, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "whatever the client says")]))
           .sign(key, hashes.SHA256()))
    return key, csr.public_bytes(serialization.Encoding.PEM).decode()


def make_pki(app_config: dict, directory: Path, signer: str, softhsm_store=None) -> Pki:
    """A fresh CA in `directory` with its root key in `directory/offline` and the root's first CRL signed."""
    config = {**app_config, "CA_DIR": str(directory / "ca"), "CA_SIGNER": signer}
    if signer == "pkcs11":
        softhsm_store.make_token(label="ca-hsm", pin=HSM_PIN)
        softhsm_store.lib()
        config.update(CA_HSM_MODULE=PKCS11_MODULE, CA_HSM_TOKEN_LABEL="ca-hsm", CA_HSM_PIN=HSM_PIN,
                      CA_HSM_KEY_LABEL="issuing-ca")
    root_key_path = directory / "offline" / "root.key.pem"
    assert init_ca(config, root_key_path) is True
    pki = Pki(config=config, authority=load_authority(config), root_key_path=root_key_path)
    sign_root_crl(config, pki.root_signer())
    return pki


def der(document) -> bytes:
    return document if isinstance(document, bytes) else document.public_bytes(serialization.Encoding.DER)


def certvalidator_verdict(cert: x509.Certificate, authority: Authority, crls: list[bytes]) -> str:
    """pyhanko-certvalidator with revocation mode `require`, no fetching: "valid" or the reason it refused."""
    context = ValidationContext(trust_roots=[asn1_x509.Certificate.load(der(authority.root))], crls=crls,
                                allow_fetching=False, revocation_mode="require")
    validator = CertificateValidator(asn1_x509.Certificate.load(der(cert)),
                                     intermediate_certs=[asn1_x509.Certificate.load(der(authority.issuing))],
                                     validation_context=context)
    try:
        asyncio.run(validator.async_validate_usage({"digital_signature", "non_repudiation"}))
    except Exception as refused:  # the library's own errors: PathValidationError, RevokedError, …
        return f"{type(refused).__name__}: {refused}"
    return "valid"


def openssl_verify(cert: x509.Certificate, authority: Authority, crls: list[bytes]) -> subprocess.CompletedProcess:
    """`openssl verify -crl_check_all` with the root as the trust anchor, the issuing CA untrusted, both CRLs."""
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for name, document in (("root", authority.root), ("issuing", authority.issuing), ("leaf", cert)):
            files[name] = Path(tmp) / f"{name}.pem"
            files[name].write_bytes(document.public_bytes(serialization.Encoding.PEM))
        crl_file = Path(tmp) / "crls.pem"
        crl_file.write_bytes(b"".join(x509.load_der_x509_crl(c).public_bytes(serialization.Encoding.PEM)
                                      for c in crls))
        return subprocess.run(["openssl", "verify", "-crl_check_all", "-CAfile", str(files["root"]), "-untrusted",
                               str(files["issuing"]), "-CRLfile", str(crl_file), str(files["leaf"])],
                              capture_output=True, text=True, timeout=30)
