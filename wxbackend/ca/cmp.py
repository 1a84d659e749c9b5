"""CMP (RFC 4210) client for a CA system, in the lightweight profile of RFC 9483.

We act as an RA: the backend checks the CSR's own signature (proof of possession) and decides subject and validity,
then asks the CA system with a `cr` whose template carries that subject, validity and the CSR's public key, and
whose proof of possession is `raVerified`. The certificate that comes back is checked (public key, subject,
validity, issuer) before we accept it with `certConf`; a wrong one is answered with a rejecting `certConf` and
refused. Revocation is an `rr` for the issuer and serial.

Messages are protected with the password-based MAC of RFC 4211 §4.4 (PBM: SHA-256 and HMAC-SHA256) under the
shared secret CA_CMP_SECRET, and every response must carry a valid MAC under the same secret, our transaction id
and our nonce; anything else is refused.

Errors: `CmpUnavailable` (network, timeouts, the CA system busy: retryable) and `CmpRefused` (final: the CA said
no, the answer was not protected by our secret, or the certificate is not what was asked for).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from asn1crypto import core, keys
from asn1crypto import crl as asn1_crl
from asn1crypto import csr as asn1_csr
from asn1crypto import x509 as ax
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from wxbackend.core.errors import UpstreamError
from wxbackend.core.times import utcnow

PBM_OID = "1.2.840.113533.7.66.13"
SHA256_OID = "2.16.840.1.101.3.4.2.1"
HMAC_SHA256_OID = "1.2.840.113549.2.9"
# what a response may use: OpenSSL (and so its mock server) MACs with HMAC-SHA1, still a sound MAC
OWF_HASHES = {SHA256_OID: hashlib.sha256, "1.3.14.3.2.26": hashlib.sha1}
MAC_HASHES = {HMAC_SHA256_OID: hashlib.sha256, "1.3.6.1.5.5.8.1.2": hashlib.sha1, "1.2.840.113549.2.7": hashlib.sha1}
PBM_ITERATIONS = 10_000
MAX_ITERATIONS = 100_000
CONTENT_TYPE = "application/pkixcmp"
MAX_RESPONSE_BYTES = 1_000_000
CLOCK_SKEW = timedelta(minutes=5)


class CmpError(UpstreamError):
    retryable = False
    failures: frozenset[str] = frozenset()  # the PKIFailureInfo bits the CA system named


class CmpUnavailable(CmpError):
    code, message, status = "ca_unavailable", "CA 系统暂时无法访问，请稍后重试", 503
    retryable = True


class CmpRefused(CmpError):
    code, message, status = "ca_refused", "CA 系统拒绝了该请求", 502


class CmpNotConfigured(CmpError):
    code, message, status = "ca_cmp_not_configured", "CA 系统接口尚未配置", 503


# --- ASN.1 (RFC 4210 is EXPLICIT TAGS, RFC 4211 IMPLICIT TAGS: a tagged CHOICE is always explicit) ---------

class AlgorithmIdentifier(core.Sequence):
    _fields = [("algorithm", core.ObjectIdentifier), ("parameters", core.Any, {"optional": True})]


class PBMParameter(core.Sequence):
    _fields = [("salt", core.OctetString), ("owf", AlgorithmIdentifier), ("iteration_count", core.Integer),
               ("mac", AlgorithmIdentifier)]


class PKIFreeText(core.SequenceOf):
    _child_spec = core.UTF8String


class PKIStatus(core.Integer):
    _map = {0: "accepted", 1: "granted_with_mods", 2: "rejection", 3: "waiting", 4: "revocation_warning",
            5: "revocation_notification", 6: "key_update_warning"}


FAILURE_BITS = ["bad_alg", "bad_message_check", "bad_request", "bad_time", "bad_cert_id", "bad_data_format",
                "wrong_authority", "incorrect_data", "missing_time_stamp", "bad_pop", "cert_revoked",
                "cert_confirmed", "wrong_integrity", "bad_recipient_nonce", "time_not_available",
                "unaccepted_policy", "unaccepted_extension", "add_info_not_available", "bad_sender_nonce",
                "bad_cert_template", "signer_not_trusted", "transaction_id_in_use", "unsupported_version",
                "not_authorized", "system_unavail", "system_failure", "duplicate_cert_req"]
RETRYABLE_FAILURES = {"system_unavail", "system_failure", "time_not_available", "transaction_id_in_use"}


class PKIFailureInfo(core.BitString):
    _map = dict(enumerate(FAILURE_BITS))


class PKIStatusInfo(core.Sequence):
    _fields = [("status", PKIStatus), ("status_string", PKIFreeText, {"optional": True}),
               ("fail_info", PKIFailureInfo, {"optional": True})]


class InfoTypeAndValue(core.Sequence):
    _fields = [("info_type", core.ObjectIdentifier), ("info_value", core.Any, {"optional": True})]


class InfoTypeAndValues(core.SequenceOf):
    _child_spec = InfoTypeAndValue


class PKIHeader(core.Sequence):
    _fields = [
        ("pvno", core.Integer), ("sender", ax.GeneralName), ("recipient", ax.GeneralName),
        ("message_time", core.GeneralizedTime, {"explicit": 0, "optional": True}),
        ("protection_alg", AlgorithmIdentifier, {"explicit": 1, "optional": True}),
        ("sender_kid", core.OctetString, {"explicit": 2, "optional": True}),
        ("recip_kid", core.OctetString, {"explicit": 3, "optional": True}),
        ("transaction_id", core.OctetString, {"explicit": 4, "optional": True}),
        ("sender_nonce", core.OctetString, {"explicit": 5, "optional": True}),
        ("recip_nonce", core.OctetString, {"explicit": 6, "optional": True}),
        ("free_text", PKIFreeText, {"explicit": 7, "optional": True}),
        ("general_info", InfoTypeAndValues, {"explicit": 8, "optional": True}),
    ]


class OptionalValidity(core.Sequence):
    _fields = [("not_before", ax.Time, {"explicit": 0, "optional": True}),
               ("not_after", ax.Time, {"explicit": 1, "optional": True})]


class CertTemplate(core.Sequence):
    _fields = [
        ("version", core.Integer, {"implicit": 0, "optional": True}),
        ("serial_number", core.Integer, {"implicit": 1, "optional": True}),
        ("signing_alg", AlgorithmIdentifier, {"implicit": 2, "optional": True}),
        ("issuer", ax.Name, {"explicit": 3, "optional": True}),
        ("validity", OptionalValidity, {"implicit": 4, "optional": True}),
        ("subject", ax.Name, {"explicit": 5, "optional": True}),
        ("public_key", keys.PublicKeyInfo, {"implicit": 6, "optional": True}),
        ("issuer_uid", core.BitString, {"implicit": 7, "optional": True}),
        ("subject_uid", core.BitString, {"implicit": 8, "optional": True}),
        ("extensions", ax.Extensions, {"implicit": 9, "optional": True}),
    ]


class CertRequest(core.Sequence):
    _fields = [("cert_req_id", core.Integer), ("cert_template", CertTemplate),
               ("controls", core.Any, {"optional": True})]


class ProofOfPossession(core.Choice):
    _alternatives = [("ra_verified", core.Null, {"implicit": 0})]


class CertReqMsg(core.Sequence):
    _fields = [("cert_req", CertRequest), ("popo", ProofOfPossession, {"optional": True}),
               ("reg_info", core.Any, {"optional": True})]


class CertReqMessages(core.SequenceOf):
    _child_spec = CertReqMsg


class CertOrEncCert(core.Choice):
    _alternatives = [("certificate", ax.Certificate, {"explicit": 0}), ("encrypted_cert", core.Any, {"explicit": 1})]


class CertifiedKeyPair(core.Sequence):
    _fields = [("cert_or_enc_cert", CertOrEncCert), ("private_key", core.Any, {"explicit": 0, "optional": True}),
               ("publication_info", core.Any, {"explicit": 1, "optional": True})]


class CertResponse(core.Sequence):
    _fields = [("cert_req_id", core.Integer), ("status", PKIStatusInfo),
               ("certified_key_pair", CertifiedKeyPair, {"optional": True}),
               ("rsp_info", core.OctetString, {"optional": True})]


class CertResponses(core.SequenceOf):
    _child_spec = CertResponse


class Certificates(core.SequenceOf):
    _child_spec = ax.Certificate


class CertRepMessage(core.Sequence):
    _fields = [("ca_pubs", Certificates, {"explicit": 1, "optional": True}), ("response", CertResponses)]


class CertStatus(core.Sequence):
    _fields = [("cert_hash", core.OctetString), ("cert_req_id", core.Integer),
               ("status_info", PKIStatusInfo, {"optional": True})]


class CertConfirmContent(core.SequenceOf):
    _child_spec = CertStatus


class RevDetails(core.Sequence):
    _fields = [("cert_details", CertTemplate), ("crl_entry_details", asn1_crl.CRLEntryExtensions, {"optional": True})]


class RevReqContent(core.SequenceOf):
    _child_spec = RevDetails


class PKIStatusInfos(core.SequenceOf):
    _child_spec = PKIStatusInfo


class RevRepContent(core.Sequence):
    _fields = [("status", PKIStatusInfos), ("rev_certs", core.Any, {"explicit": 0, "optional": True}),
               ("crls", core.Any, {"explicit": 1, "optional": True})]


class ErrorMsgContent(core.Sequence):
    _fields = [("pki_status_info", PKIStatusInfo), ("error_code", core.Integer, {"optional": True}),
               ("error_details", PKIFreeText, {"optional": True})]


class PollReq(core.Sequence):
    _fields = [("cert_req_id", core.Integer)]


class PollReqContent(core.SequenceOf):
    _child_spec = PollReq


class PollRep(core.Sequence):
    _fields = [("cert_req_id", core.Integer), ("check_after", core.Integer),
               ("reason", PKIFreeText, {"optional": True})]


class PollRepContent(core.SequenceOf):
    _child_spec = PollRep


class PKIBody(core.Choice):
    _alternatives = [
        ("ir", CertReqMessages, {"explicit": 0}), ("ip", CertRepMessage, {"explicit": 1}),
        ("cr", CertReqMessages, {"explicit": 2}), ("cp", CertRepMessage, {"explicit": 3}),
        ("p10cr", asn1_csr.CertificationRequest, {"explicit": 4}),
        ("rr", RevReqContent, {"explicit": 11}), ("rp", RevRepContent, {"explicit": 12}),
        ("pkiconf", core.Null, {"explicit": 19}), ("genm", core.Any, {"explicit": 21}),
        ("genp", core.Any, {"explicit": 22}), ("error", ErrorMsgContent, {"explicit": 23}),
        ("cert_conf", CertConfirmContent, {"explicit": 24}), ("poll_req", PollReqContent, {"explicit": 25}),
        ("poll_rep", PollRepContent, {"explicit": 26}),
    ]


class PKIMessage(core.Sequence):
    _fields = [("header", PKIHeader), ("body", PKIBody), ("protection", core.OctetBitString,
                                                                             {"explicit": 0, "optional": True}),
               ("extra_certs", Certificates, {"explicit": 1, "optional": True})]


class ProtectedPart(core.Sequence):
    _fields = [("header", PKIHeader), ("body", PKIBody)]


# --- protection --------------------------------------------------------------------------------------------------

def _pbm_key(secret: bytes, params: PBMParameter) -> bytes:
    owf = OWF_HASHES.get(params["owf"]["algorithm"].dotted)
    if owf is None:
        raise CmpRefused("CA 系统应答的完整性保护算法不受支持")
    iterations = params["iteration_count"].native
    if not 100 <= iterations <= MAX_ITERATIONS:
        raise CmpRefused("CA 系统应答的完整性保护参数无效")
    key = owf(secret + params["salt"].native).digest()
    for _ in range(iterations - 1):
        key = owf(key).digest()
    return key


def _pbm_mac(secret: bytes, params: PBMParameter, header: PKIHeader, body: PKIBody) -> bytes:
    mac = MAC_HASHES.get(params["mac"]["algorithm"].dotted)
    if mac is None:
        raise CmpRefused("CA 系统应答的完整性保护算法不受支持")
    protected = ProtectedPart({"header": header, "body": body}).dump()
    return hmac.new(_pbm_key(secret, params), protected, mac).digest()


def _new_pbm() -> PBMParameter:
    return PBMParameter({"salt": os.urandom(16), "owf": {"algorithm": SHA256_OID}, "iteration_count": PBM_ITERATIONS,
                         "mac": {"algorithm": HMAC_SHA256_OID}})


# --- the client ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CmpSettings:
    url: str
    reference: str
    secret: str
    timeout: float
    ca_cert: x509.Certificate | None = None  # the CA system's issuing CA: what issued certificates must chain to
    chain: tuple[x509.Certificate, ...] = ()  # the issuing CA and what is above it, as the file lists them

    @classmethod
    def from_config(cls, config) -> CmpSettings:
        if not config.get("CA_CMP_URL") or not config.get("CA_CMP_SECRET"):
            raise CmpNotConfigured()
        chain: list[x509.Certificate] = []
        if config.get("CA_CMP_CA_CERT"):
            try:
                with open(config["CA_CMP_CA_CERT"], "rb") as f:
                    chain = x509.load_pem_x509_certificates(f.read())
            except (OSError, ValueError):
                raise CmpNotConfigured("CA 系统的签发 CA 证书（CA_CMP_CA_CERT）无法读取") from None
        return cls(url=config["CA_CMP_URL"], reference=config.get("CA_CMP_REFERENCE", ""),
                   secret=config["CA_CMP_SECRET"], timeout=float(config.get("CA_CMP_TIMEOUT_SECONDS", 15)),
                   ca_cert=chain[0] if chain else None, chain=tuple(chain))


@dataclass(frozen=True)
class Certified:
    certificate: x509.Certificate
    server_nonce: bytes  # what the certConf answers (recipNonce)


class CmpClient:
    def __init__(self, settings: CmpSettings):
        self.settings = settings

    @staticmethod
    def new_transaction_id() -> bytes:
        return secrets.token_bytes(16)

    # requests

    def certify(self, transaction_id: bytes, public_key_der: bytes, subject: x509.Name, not_before: datetime,
                not_after: datetime) -> Certified:
        """Ask for a certificate (cr, raVerified) and check the one that comes back; no certConf yet.
        Raises CmpRefused (final) or CmpUnavailable (retryable)."""
        template = CertTemplate({
            "validity": {"not_before": ax.Time(name="utc_time", value=not_before),
                         "not_after": ax.Time(name="utc_time", value=not_after)},
            "subject": ax.Name.load(subject.public_bytes()),
            "public_key": keys.PublicKeyInfo.load(public_key_der),
        })
        if self.settings.ca_cert is not None:
            template["issuer"] = ax.Name.load(self.settings.ca_cert.subject.public_bytes())
        body = PKIBody(name="cr", value=CertReqMessages([{
            "cert_req": {"cert_req_id": 0, "cert_template": template}, "popo": ProofOfPossession(name="ra_verified",
                                                                                                  value=core.Null())}]))
        answer, header = self._exchange(transaction_id, body, expected=("cp",))
        response = self._only_response(answer)
        deadline = time.monotonic() + self.settings.timeout
        while response["status"]["status"].native == "waiting":  # delayed delivery (RFC 9483 §4.4): poll
            wait = 1.0
            while True:
                if time.monotonic() + wait > deadline:
                    raise CmpUnavailable("CA 系统仍在处理该证书请求，请稍后重试")
                time.sleep(wait)
                poll = PKIBody(name="poll_req", value=PollReqContent([{"cert_req_id": 0}]))
                answer, header = self._exchange(transaction_id, poll, expected=("poll_rep", "cp"),
                                                recip_nonce=header["sender_nonce"].native)
                if not isinstance(answer, PollRepContent):
                    break
                if len(answer) != 1 or answer[0]["cert_req_id"].native != 0:
                    raise CmpRefused("CA 系统的应答与请求不对应")
                wait = float(min(max(answer[0]["check_after"].native, 1), 5))
            response = self._only_response(answer)
        self._check_status(response["status"])
        pair = response["certified_key_pair"]
        if not pair or pair["cert_or_enc_cert"].name != "certificate":
            raise CmpRefused("CA 系统的应答中没有证书")
        try:
            certificate = x509.load_der_x509_certificate(pair["cert_or_enc_cert"].chosen.untag().dump())
        except ValueError:
            raise CmpRefused("CA 系统返回的证书无法解析") from None
        return Certified(certificate, header["sender_nonce"].native)

    @staticmethod
    def _only_response(answer: CertRepMessage) -> CertResponse:
        responses = answer["response"]
        if len(responses) != 1 or responses[0]["cert_req_id"].native != 0:
            raise CmpRefused("CA 系统的应答与请求不对应")
        return responses[0]

    def check_certificate(self, certificate: x509.Certificate, public_key_der: bytes, subject: x509.Name,
                          not_before: datetime, not_after: datetime) -> str | None:
        """Why the certificate is not what was asked for, or None."""
        issued_key = certificate.public_key().public_bytes(serialization.Encoding.DER,
                                                           serialization.PublicFormat.SubjectPublicKeyInfo)
        if issued_key != public_key_der:
            return "公钥与请求不一致"
        if certificate.subject != subject:
            return "主题与请求不一致"
        if certificate.not_valid_after_utc > not_after + CLOCK_SKEW or \
                certificate.not_valid_before_utc < not_before - CLOCK_SKEW:
            return "有效期超出请求"
        if self.settings.ca_cert is not None:
            try:
                certificate.verify_directly_issued_by(self.settings.ca_cert)
            except (ValueError, TypeError, Exception):  # InvalidSignature and friends
                return "不是由约定的签发 CA 签发"
        return None

    def confirm(self, transaction_id: bytes, certificate: x509.Certificate, server_nonce: bytes,
                reject_reason: str | None = None) -> None:
        """certConf (accepting, or rejecting with a reason) and its pkiConf."""
        algorithm = certificate.signature_hash_algorithm or hashes.SHA256()
        digest = hashes.Hash(algorithm)
        digest.update(certificate.public_bytes(serialization.Encoding.DER))
        status = {"status": "accepted"} if reject_reason is None else {
            "status": "rejection", "status_string": [reject_reason], "fail_info": {"bad_cert_template"}}
        body = PKIBody(name="cert_conf", value=CertConfirmContent([
            {"cert_hash": digest.finalize(), "cert_req_id": 0, "status_info": status}]))
        self._exchange(transaction_id, body, expected=("pkiconf",), recip_nonce=server_nonce)

    def revoke(self, transaction_id: bytes, certificate: x509.Certificate, reason: x509.ReasonFlags | None) -> None:
        """rr for the certificate's issuer and serial; returns when the CA system accepted it."""
        details = {"cert_details": CertTemplate({
            "serial_number": certificate.serial_number, "issuer": ax.Name.load(certificate.issuer.public_bytes())})}
        if reason is not None:
            reason_code = asn1_crl.CRLReason.load(x509.CRLReason(reason).public_bytes())
            details["crl_entry_details"] = [{"extn_id": "crl_reason", "critical": False, "extn_value": reason_code}]
        body = PKIBody(name="rr", value=RevReqContent([details]))
        answer, _ = self._exchange(transaction_id, body, expected=("rp",))
        if len(answer["status"]) != 1:
            raise CmpRefused("CA 系统的吊销应答与请求不对应")
        self._check_status(answer["status"][0])

    # the exchange

    def _message(self, transaction_id: bytes, body: PKIBody, nonce: bytes, recip_nonce: bytes | None) -> bytes:
        params = _new_pbm()
        recipient = self.settings.ca_cert.subject if self.settings.ca_cert is not None else x509.Name([])
        header = PKIHeader({
            "pvno": 2,
            "sender": ax.GeneralName(name="directory_name", value=ax.Name.load(x509.Name([]).public_bytes())),
            "recipient": ax.GeneralName(name="directory_name", value=ax.Name.load(recipient.public_bytes())),
            "message_time": utcnow().replace(microsecond=0),
            "protection_alg": {"algorithm": PBM_OID, "parameters": core.Any.load(params.dump())},
            "sender_kid": self.settings.reference.encode(),
            "transaction_id": transaction_id,
            "sender_nonce": nonce,
        })
        if recip_nonce is not None:
            header["recip_nonce"] = recip_nonce
        mac = _pbm_mac(self.settings.secret.encode(), params, header, body)
        return PKIMessage({"header": header, "body": body, "protection": mac}).dump()

    def _exchange(self, transaction_id: bytes, body: PKIBody, expected: tuple[str, ...],
                  recip_nonce: bytes | None = None):
        nonce = secrets.token_bytes(16)
        request = self._message(transaction_id, body, nonce, recip_nonce)
        try:
            # one request per connection: OpenSSL's server drops an open transaction when a kept-alive
            # connection goes quiet
            http = requests.post(self.settings.url, data=request, timeout=self.settings.timeout, stream=True,
                                 headers={"Content-Type": CONTENT_TYPE, "Connection": "close"})
            data = http.raw.read(MAX_RESPONSE_BYTES + 1, decode_content=True)
        except requests.RequestException:
            raise CmpUnavailable() from None
        if http.status_code >= 500 and not data:
            raise CmpUnavailable()
        if len(data) > MAX_RESPONSE_BYTES:
            raise CmpRefused("CA 系统的应答过大")
        try:
            message = PKIMessage.load(data, strict=True)
            header, answer_body = message["header"], message["body"]
            kind = answer_body.name
            content = answer_body.chosen
            content.native  # parse it all now: a broken answer is refused here, not later  # noqa: B018
        except (ValueError, TypeError, KeyError):
            if http.status_code >= 500:
                raise CmpUnavailable() from None
            raise CmpRefused("CA 系统的应答格式无效") from None
        self._check_protection(message)
        if header["transaction_id"].native != transaction_id:
            raise CmpRefused("CA 系统的应答不属于本次交易")
        if header["recip_nonce"].native != nonce:
            raise CmpRefused("CA 系统的应答未回应本次请求（nonce 不符）")
        if not header["sender_nonce"].native:
            raise CmpRefused("CA 系统的应答缺少 nonce")
        if header["pvno"].native not in (2, 3):
            raise CmpRefused("CA 系统的协议版本不受支持")
        if kind == "error":
            self._check_status(content["pki_status_info"], always=True)
        if kind not in expected:
            raise CmpRefused(f"CA 系统的应答类型不符（{kind}）")
        return content, header

    def _check_protection(self, message: PKIMessage) -> None:
        header = message["header"]
        algorithm = header["protection_alg"]
        if message["protection"].native is None or algorithm.native is None:
            raise CmpRefused("CA 系统的应答没有完整性保护")
        if algorithm["algorithm"].dotted != PBM_OID:
            raise CmpRefused("CA 系统的应答的完整性保护算法不受支持")
        try:
            params = PBMParameter.load(algorithm["parameters"].dump(), strict=True)
            params.native  # noqa: B018
        except (ValueError, TypeError):
            raise CmpRefused("CA 系统应答的完整性保护参数无效") from None
        expected = _pbm_mac(self.settings.secret.encode(), params, header, message["body"])
        if not hmac.compare_digest(expected, message["protection"].native):
            raise CmpRefused("CA 系统应答的完整性校验失败（共享密钥不符？）", code="ca_protection_failed")

    @staticmethod
    def _check_status(info: PKIStatusInfo, always: bool = False) -> None:
        status = info["status"].native
        if not always and status in ("accepted", "granted_with_mods"):
            return
        failures = set(info["fail_info"].native or ()) if info["fail_info"].native is not None else set()
        text = "；".join(info["status_string"].native or [])[:200]
        if status == "waiting" or failures & RETRYABLE_FAILURES:
            error: CmpError = CmpUnavailable(f"CA 系统暂时无法处理，请稍后重试{('：' + text) if text else ''}")
        else:
            error = CmpRefused(f"CA 系统拒绝了该请求：{text or '、'.join(sorted(failures)) or status}")
        error.failures = frozenset(failures)
        raise error
