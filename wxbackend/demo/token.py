"""PKCS#11 on the demo key: the key pair made on the token, its CSR signed there, the certificate written beside
it, as a customer's key holds them (CKA_ID = SHA-1 of the public key on all three, as the helper expects).

The backend's own small copy of what the key helper does on a real key: the server never imports `ukey_helper`,
which ships alone to the customer's PC (DESIGN §7).
"""

from __future__ import annotations

import pkcs11
from asn1crypto import csr as asn1_csr
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pkcs11 import Attribute, CertificateType, KeyType, Mechanism, ObjectClass


class DemoTokenError(RuntimeError):
    pass


def find_token(module: str, serial: str) -> pkcs11.Token:
    """The token with `serial`, after reinitialising the module so that a token made since is seen."""
    lib = pkcs11.lib(module)
    lib.reinitialize()
    for slot in lib.get_slots(token_present=True):
        token = slot.get_token()
        raw = token.serial
        if (raw.decode() if isinstance(raw, bytes) else str(raw)).strip() == serial:
            return token
    raise DemoTokenError(f"no token with serial {serial} in {module}")


def make_key_pair(session: pkcs11.Session, label: str, common_name: str, bits: int = 2048) -> tuple[bytes, str]:
    """A new RSA key pair on the token (private key sensitive, never extractable) and a PKCS#10 request for it
    signed on the token. Returns (CKA_ID, CSR PEM)."""
    pub, priv = session.generate_keypair(
        KeyType.RSA, bits, store=True, label=label,
        public_template={Attribute.VERIFY: True, Attribute.ENCRYPT: True, Attribute.PRIVATE: False},
        private_template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.SIGN: True,
                          Attribute.DECRYPT: True, Attribute.PRIVATE: True},
    )
    public_key = rsa.RSAPublicNumbers(int.from_bytes(pub[Attribute.PUBLIC_EXPONENT], "big"),
                                      int.from_bytes(pub[Attribute.MODULUS], "big")).public_key()
    cka_id = x509.SubjectKeyIdentifier.from_public_key(public_key).digest
    pub[Attribute.ID] = cka_id
    priv[Attribute.ID] = cka_id
    spki = asn1_keys.PublicKeyInfo.load(public_key.public_bytes(serialization.Encoding.DER,
                                                                serialization.PublicFormat.SubjectPublicKeyInfo))
    info = asn1_csr.CertificationRequestInfo({
        "version": "v1",
        "subject": asn1_x509.Name.build({"common_name": common_name}),
        "subject_pk_info": spki,
        "attributes": [],
    })
    request = asn1_csr.CertificationRequest({
        "certification_request_info": info,
        "signature_algorithm": {"algorithm": "sha256_rsa"},
        "signature": priv.sign(info.dump(), mechanism=Mechanism.SHA256_RSA_PKCS),
    })
    return cka_id, x509.load_der_x509_csr(request.dump()).public_bytes(serialization.Encoding.PEM).decode()


def write_certificate(session: pkcs11.Session, cert: x509.Certificate, cka_id: bytes, label: str) -> None:
    """Store the certificate as a public token object beside its key pair (same CKA_ID)."""
    der = cert.public_bytes(serialization.Encoding.DER)
    session.create_object({
        Attribute.CLASS: ObjectClass.CERTIFICATE,
        Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
        Attribute.TOKEN: True,
        Attribute.PRIVATE: False,
        Attribute.LABEL: label,
        Attribute.ID: cka_id,
        Attribute.SUBJECT: cert.subject.public_bytes(),
        Attribute.ISSUER: cert.issuer.public_bytes(),
        Attribute.SERIAL_NUMBER: asn1_x509.Certificate.load(der)["tbs_certificate"]["serial_number"].dump(),
        Attribute.VALUE: der,
    })
