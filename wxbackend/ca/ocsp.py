"""The OCSP responder (RFC 6960): answers for certificates of the issuing CA, signed by a delegated
OCSP-signing certificate.

* The delegated signer: its own RSA key (an encrypted file in CA_DIR, never the issuing key) and a certificate the
  issuing CA signs with id-kp-OCSPSigning and id-pkix-ocsp-nocheck, recorded like every certificate the CA signs.
  `ensure_ocsp_signer` makes or renews it (`flask ca init`, `flask ca ocsp-signer`).
* A request the responder cannot parse gets the `malformedRequest` status, one for another CA `unauthorized`,
  and a missing or expired signer `tryLater`: never a server error.
* Good / revoked (time and reason) / unknown come from `status.certificate_status`, the one place that reads it;
  a request may name up to 10 certificates, answered in order. Requests are read and responses built with
  asn1crypto (cryptography's builder takes one certificate per response), then signed with the signer's key.
* A response to a request without a nonce is cached in Redis under a key that includes the certificate's status
  fingerprint, so the cache can never answer with an older status: a revocation changes the key.
  A request with a nonce gets a freshly signed response echoing it.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from asn1crypto import core as asn1_core
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from flask import current_app
from redis.exceptions import RedisError

from wxbackend.ca import profiles
from wxbackend.ca.models import IssuedCertificate
from wxbackend.ca.service import Authority, CaNotInitialised, get_authority, random_serial, serial_hex
from wxbackend.ca.status import CertificateStatus, RevocationState, certificate_status
from wxbackend.ca.x509build import sign_certificate
from wxbackend.core.db import db
from wxbackend.core.redis import get_redis
from wxbackend.core.times import utcnow

log = logging.getLogger(__name__)

OCSP_KEY = "ocsp.key.pem"
OCSP_CERT = "ocsp.crt.pem"
CACHE_PREFIX = "ca:ocsp:"
MAX_REQUEST_BYTES = 10_000
MAX_NONCE_BYTES = 32  # RFC 8954 §2.1
HTTP_MAX_AGE = 300  # what HTTP caches may keep a nonce-less answer (our own cache follows the status itself)
MAX_CERTIFICATES_PER_REQUEST = 10
HASHES = {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}


@dataclass(frozen=True)
class OcspSigner:
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey


@dataclass(frozen=True)
class OcspAnswer:
    der: bytes
    cacheable_seconds: int = 0  # > 0: the same bytes answer this request until then (no nonce, good signer)


def _signer_paths(config) -> tuple[Path, Path]:
    ca_dir = Path(config["CA_DIR"])
    return ca_dir / OCSP_KEY, ca_dir / OCSP_CERT


def _write_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.chmod(mode)
    os.replace(tmp, path)


def _needs_new_signer(config, cert_path: Path) -> bool:
    if not cert_path.exists():
        return True
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return cert.not_valid_after_utc - utcnow() < timedelta(days=int(config["CA_OCSP_RENEW_DAYS"]))


def ensure_ocsp_signer(config, *, force: bool = False, authority: Authority | None = None) -> IssuedCertificate | None:
    """Make the delegated OCSP-signing key and certificate when there is none, it is due for renewal
    (CA_OCSP_RENEW_DAYS before its end) or `force`; the new certificate is recorded (flushed, the caller commits).
    Returns the new record, or None when the current signer is kept. Raises CaNotInitialised without a CA."""
    key_path, cert_path = _signer_paths(config)
    if not force and not _needs_new_signer(config, cert_path):
        return None
    authority = authority or get_authority()
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    now = utcnow().replace(microsecond=0)
    not_after = min(now + timedelta(days=int(config["CA_OCSP_SIGNER_DAYS"])), authority.issuing.not_valid_after_utc)
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, config["CA_NAME"]),
        x509.NameAttribute(NameOID.COMMON_NAME, f"{config['CA_NAME']} OCSP响应签名"),
    ])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(authority.issuing.subject)
        .public_key(key.public_key())
        .serial_number(random_serial())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(not_after)
    )
    builder = profiles.with_extensions(
        builder, profiles.ocsp_signer_extensions(key.public_key(), authority.issuing.public_key()))
    cert = sign_certificate(builder, authority.signer)
    pem = cert.public_bytes(serialization.Encoding.PEM)
    record = IssuedCertificate(serial=serial_hex(cert.serial_number), subject=cert.subject.rfc4514_string(),
                               not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
                               pem=pem.decode())
    db.session.add(record)
    db.session.flush()
    # the key first: a process that sees the new certificate must find its key
    passphrase = config["CA_KEY_PASSPHRASE"].encode()
    _write_atomically(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.BestAvailableEncryption(passphrase)), 0o600)
    _write_atomically(cert_path, pem)
    return record


def load_ocsp_signer() -> OcspSigner | None:
    """The current delegated signer, reloaded when its certificate file changes; None (logged) when there is none,
    its files cannot be read, or the key does not match it."""
    key_path, cert_path = _signer_paths(current_app.config)
    try:
        stamp = cert_path.stat().st_mtime_ns
    except FileNotFoundError:
        return None
    cached = current_app.extensions.get("ca_ocsp_signer")
    if cached and cached[0] == (cert_path, stamp):
        return cached[1]
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(),
                                                 current_app.config["CA_KEY_PASSPHRASE"].encode())
    except (OSError, ValueError, TypeError):
        log.exception("OCSP signer in %s cannot be loaded", cert_path.parent)
        return None
    if not isinstance(key, rsa.RSAPrivateKey) or key.public_key() != cert.public_key():
        log.error("OCSP signer key in %s does not match its certificate", key_path)
        return None
    signer = OcspSigner(cert, key)
    current_app.extensions["ca_ocsp_signer"] = ((cert_path, stamp), signer)
    return signer


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> OcspAnswer:
    return OcspAnswer(ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(serialization.Encoding.DER))


def _issuer_hashes(authority: Authority, algorithm: str) -> tuple[bytes, bytes]:
    digest = HASHES[algorithm]
    name_digest = hashes.Hash(digest())
    name_digest.update(authority.issuing.subject.public_bytes())
    key_bits = authority.issuing.public_key().public_bytes(serialization.Encoding.DER,
                                                           serialization.PublicFormat.PKCS1)
    key_digest = hashes.Hash(digest())
    key_digest.update(key_bits)
    return name_digest.finalize(), key_digest.finalize()


@dataclass(frozen=True)
class _Parsed:
    items: list  # the request's Request entries (asn1crypto), answered in order
    nonce: bytes | None


def _parse(request_der: bytes) -> _Parsed | None:
    """The request's certificate ids and nonce; None when it is not a well-formed request we can answer."""
    try:
        request = asn1_ocsp.OCSPRequest.load(request_der, strict=True)
        request.native  # parse it all here: nothing broken reaches the answer  # noqa: B018
        tbs = request["tbs_request"]
        items = list(tbs["request_list"])
        nonce = None
        for extension in tbs["request_extensions"] or []:
            if extension["extn_id"].native == "nonce":
                nonce = extension["extn_value"].parsed.native
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    if not 1 <= len(items) <= MAX_CERTIFICATES_PER_REQUEST:
        return None
    if nonce is not None and not 1 <= len(nonce) <= MAX_NONCE_BYTES:
        return None
    if any(item["req_cert"]["hash_algorithm"]["algorithm"].native not in HASHES for item in items):
        return None
    return _Parsed(items, nonce)


def answer(request_der: bytes) -> OcspAnswer:
    """The DER OCSP response to a DER OCSP request; never raises for anything a client can send."""
    if not request_der or len(request_der) > MAX_REQUEST_BYTES:
        return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    parsed = _parse(request_der)
    if parsed is None:
        return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    try:
        authority = get_authority()
    except CaNotInitialised:
        log.error("OCSP request answered tryLater: the CA is not initialised")
        return _unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER)
    for item in parsed.items:
        cert_id = item["req_cert"]
        if (cert_id["issuer_name_hash"].native, cert_id["issuer_key_hash"].native) != \
                _issuer_hashes(authority, cert_id["hash_algorithm"]["algorithm"].native):
            return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
    signer = load_ocsp_signer()
    now = utcnow()
    if signer is None or signer.certificate.not_valid_after_utc <= now:
        log.error("OCSP request answered tryLater: no valid OCSP signer (run `flask ca ocsp-signer`)")
        return _unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER)

    statuses = [certificate_status(item["req_cert"]["serial_number"].native) for item in parsed.items]
    cache_key = None
    if parsed.nonce is None:
        parts = [item["req_cert"].dump() for item in parsed.items]
        parts += [status.fingerprint.encode() for status in statuses]
        parts.append(str(signer.certificate.serial_number).encode())
        cache_key = CACHE_PREFIX + hashlib.sha256(b"|".join(parts)).hexdigest()
        cached = _cache_get(cache_key)
        if cached:
            return OcspAnswer(cached, HTTP_MAX_AGE)
    der = _sign(parsed, statuses, signer, now)
    if cache_key:
        _cache_set(cache_key, der)
        return OcspAnswer(der, HTTP_MAX_AGE)
    return OcspAnswer(der)


def _cache_get(key: str) -> bytes | None:
    try:
        return get_redis().get(key)
    except RedisError:  # the cache is an optimisation: answer without it
        log.warning("OCSP cache unavailable", exc_info=True)
        return None


def _cache_set(key: str, der: bytes) -> None:
    try:
        get_redis().set(key, der, ex=_cache_seconds())
    except RedisError:
        log.warning("OCSP cache unavailable", exc_info=True)


def _cache_seconds() -> int:
    return max(60, int(current_app.config["CA_OCSP_NEXT_UPDATE_HOURS"]) * 3600 // 2)


def _sign(parsed: _Parsed, statuses: list[CertificateStatus], signer: OcspSigner, now: datetime) -> bytes:
    """A successful basic response for every certificate id of the request, in order, the nonce echoed."""
    this_update = now.replace(microsecond=0) - timedelta(minutes=1)
    next_update = min(this_update + timedelta(hours=int(current_app.config["CA_OCSP_NEXT_UPDATE_HOURS"])),
                      signer.certificate.not_valid_after_utc)
    responses = []
    for item, status in zip(parsed.items, statuses, strict=True):
        if status.state == RevocationState.GOOD:
            cert_status = asn1_ocsp.CertStatus(name="good", value=asn1_core.Null())
        elif status.state == RevocationState.REVOKED:
            info = {"revocation_time": (status.revoked_at or this_update).replace(microsecond=0)}
            if status.reason is not None:
                info["revocation_reason"] = status.reason.name
            cert_status = asn1_ocsp.CertStatus(name="revoked", value=info)
        else:
            cert_status = asn1_ocsp.CertStatus(name="unknown", value=asn1_core.Null())
        responses.append({"cert_id": item["req_cert"], "cert_status": cert_status, "this_update": this_update,
                          "next_update": next_update})
    signer_cert = asn1_x509.Certificate.load(signer.certificate.public_bytes(serialization.Encoding.DER))
    data = {"responder_id": asn1_ocsp.ResponderId(name="by_key", value=signer_cert.public_key.sha1),
            "produced_at": now.replace(microsecond=0), "responses": responses}
    if parsed.nonce is not None:
        data["response_extensions"] = [{"extn_id": "nonce", "critical": False, "extn_value": parsed.nonce}]
    tbs = asn1_ocsp.ResponseData(data)
    signature = signer.key.sign(tbs.dump(), padding.PKCS1v15(), hashes.SHA256())
    basic = asn1_ocsp.BasicOCSPResponse({"tbs_response_data": tbs, "signature_algorithm": {"algorithm": "sha256_rsa"},
                                         "signature": signature, "certs": [signer_cert]})
    return asn1_ocsp.OCSPResponse({"response_status": "successful", "response_bytes": {
        "response_type": "basic_ocsp_response", "response": basic}}).dump()
