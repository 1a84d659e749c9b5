"""The PKCS#11 layer: find the one present key, read its state and certificates, make keys and CSRs, write
certificates. Used by the helper, and by the backend's demo command to make a key that looks like a customer's.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

import pkcs11
from asn1crypto import csr as asn1_csr
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pkcs11 import Attribute, CertificateType, KeyType, Mechanism, ObjectClass, TokenFlag

from ukey_helper.errors import HelperError


def pin_state(flags: int) -> str:
    """ok | count_low | final_try | locked, from the token's PIN flags (read before any login)."""
    if flags & TokenFlag.USER_PIN_LOCKED:
        return "locked"
    if flags & TokenFlag.USER_PIN_FINAL_TRY:
        return "final_try"
    if flags & TokenFlag.USER_PIN_COUNT_LOW:
        return "count_low"
    return "ok"


def rsa_public_key(pub) -> rsa.RSAPublicKey:
    """A cryptography public key from a PKCS#11 RSA public key object."""
    return rsa.RSAPublicNumbers(int.from_bytes(pub[Attribute.PUBLIC_EXPONENT], "big"),
                                int.from_bytes(pub[Attribute.MODULUS], "big")).public_key()


def key_id(public_key: rsa.RSAPublicKey) -> bytes:
    """CKA_ID of a key pair and its certificate: SHA-1 of the public key (as in the Subject Key Identifier)."""
    return x509.SubjectKeyIdentifier.from_public_key(public_key).digest


@dataclass
class PresentToken:
    """A token found in a slot: the PKCS#11 token object plus the module it came from."""

    token: pkcs11.Token
    module: str

    @property
    def serial(self) -> str:
        raw = self.token.serial
        return (raw.decode() if isinstance(raw, bytes) else str(raw)).strip()

    def describe(self) -> dict:
        return {
            "serial": self.serial,
            "medium_number": self.serial,
            "label": self.token.label.strip(),
            "model": (self.token.model or "").strip() if isinstance(self.token.model, str)
            else self.token.model.decode().strip(),
            "manufacturer": self.token.manufacturer_id.strip(),
            "pin_state": pin_state(int(self.token.flags)),
        }


class TokenLayer:
    """One or more PKCS#11 modules. Token listing reinitialises the modules so that a key plugged in or pulled
    out since the last call is seen (SoftHSM2 and most vendor modules only rescan on C_Initialize).

    Except while a logged-in session is held for a renewal flow (`session_held`): C_Finalize would close it,
    so listing then reads the slots as they are, whatever the caller asked for.
    """

    def __init__(self, modules: list[str]):
        self.modules = modules
        self._libs = {m: pkcs11.lib(m) for m in modules}
        self.lock = threading.Lock()
        self.session_held = False

    def present_tokens(self, rescan: bool = True) -> list[PresentToken]:
        rescan = rescan and not self.session_held
        found = []
        for module, lib in self._libs.items():
            if rescan:
                lib.reinitialize()
            for slot in lib.get_slots(token_present=True):
                token = slot.get_token()
                if int(token.flags) & TokenFlag.TOKEN_INITIALIZED:
                    found.append(PresentToken(token, module))
        return found

    def the_token(self, serial: str | None = None, rescan: bool = True) -> PresentToken:
        """The one present key, or the one named by `serial`. Raises token_absent / multiple_tokens."""
        tokens = self.present_tokens(rescan=rescan)
        if serial is not None:
            tokens = [t for t in tokens if t.serial == serial]
        if not tokens:
            raise HelperError("token_absent")
        if len(tokens) > 1:
            raise HelperError("multiple_tokens")
        return tokens[0]


def read_certificates(session: pkcs11.Session) -> list[dict]:
    """The X.509 certificates on the token (public objects: no login needed)."""
    certs = []
    for obj in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE,
                                    Attribute.CERTIFICATE_TYPE: CertificateType.X_509}):
        der = obj[Attribute.VALUE]
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            continue
        certs.append({
            "pem": cert.public_bytes(serialization.Encoding.PEM).decode(),
            "cka_id": bytes(obj[Attribute.ID]).hex(),
            "label": obj[Attribute.LABEL],
            "serial": format(cert.serial_number, "X"),
            "subject": cert.subject.rfc4514_string(),
            "not_before": cert.not_valid_before_utc.isoformat(),
            "not_after": cert.not_valid_after_utc.isoformat(),
        })
    return certs


def read_key_ids(session: pkcs11.Session) -> list[str]:
    """The hex CKA_IDs of the public key objects on the token (public objects: no login needed), sorted."""
    ids = {bytes(obj[Attribute.ID]).hex() for obj in session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY})}
    return sorted(i for i in ids if i)


def generate_key_pair(session: pkcs11.Session, label: str, bits: int = 2048):
    """A new RSA key pair on the token: private key sensitive and never extractable; CKA_ID = SHA-1 of the
    public key on both halves. Returns (cka_id, public object, private object)."""
    pub, priv = session.generate_keypair(
        KeyType.RSA, bits, store=True, label=label,
        public_template={Attribute.VERIFY: True, Attribute.ENCRYPT: True, Attribute.PRIVATE: False},
        private_template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.SIGN: True,
                          Attribute.DECRYPT: True, Attribute.PRIVATE: True},
    )
    cka_id = key_id(rsa_public_key(pub))
    pub[Attribute.ID] = cka_id
    priv[Attribute.ID] = cka_id
    return cka_id, pub, priv


def objects_with_id(session: pkcs11.Session, object_class: ObjectClass, cka_id: bytes) -> list:
    """The token objects of `object_class` whose CKA_ID is `cka_id` (private ones only in a logged-in session)."""
    return list(session.get_objects({Attribute.CLASS: object_class, Attribute.ID: cka_id}))


def sign(private_key, data: bytes) -> bytes:
    """SHA256withRSA (PKCS#1 v1.5) on the token."""
    return private_key.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS)


def build_csr(public_key: rsa.RSAPublicKey, private_key, common_name: str) -> str:
    """A PKCS#10 request for the token's key pair, signed on the token. The backend takes only the public key
    and the proof of possession from it; the subject it issues to is decided by the backend."""
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
        "signature": sign(private_key, info.dump()),
    })
    return x509.load_der_x509_csr(request.dump()).public_bytes(serialization.Encoding.PEM).decode()


def write_certificate(session: pkcs11.Session, cert: x509.Certificate, cka_id: bytes, label: str):
    """Store the certificate as a token object beside its key pair (same CKA_ID)."""
    return session.create_object({
        Attribute.CLASS: ObjectClass.CERTIFICATE,
        Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
        Attribute.TOKEN: True,
        Attribute.PRIVATE: False,
        Attribute.LABEL: label,
        Attribute.ID: cka_id,
        Attribute.SUBJECT: cert.subject.public_bytes(),
        Attribute.ISSUER: cert.issuer.public_bytes(),
        Attribute.SERIAL_NUMBER: asn1_x509.Certificate.load(
            cert.public_bytes(serialization.Encoding.DER))["tbs_certificate"]["serial_number"].dump(),
        Attribute.VALUE: cert.public_bytes(serialization.Encoding.DER),
    })


def fingerprint(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
