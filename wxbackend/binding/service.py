"""The binding protocol (DESIGN §4).

PC: `start_binding` (the key's certificate → a `sign` ticket) → the helper signs the challenge after the PIN →
`open_binding_session` (signature checked with the certificate's key → an 8-digit code, a QR token, a PC token).
Phone: `claim_by_code` (code + last 4 of the medium number) or `claim_by_qr`. PC: `confirm_binding` makes the
binding active. Sessions live in Redis for 300 s; the code is stored only as an HMAC and works once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from helper_protocol.tickets import unb64url
from wxbackend.audit.service import record_audit
from wxbackend.binding.limits import TooManyAttempts, check_budget, record_failure, scopes_for
from wxbackend.certificates.models import Binding, BindingStatus, Certificate
from wxbackend.certificates.revocation import refusal_for, require_in_use
from wxbackend.certificates.service import (
    CertificateRefused,
    certificate_from_key,
    end_binding,
    lock_certificate,
    signed_by_certificate,
)
from wxbackend.core.db import db
from wxbackend.core.errors import DomainError, NotFound
from wxbackend.core.qr import qr_svg as svg_of
from wxbackend.core.redis import get_redis
from wxbackend.core.times import SHANGHAI, utcnow
from wxbackend.helper_releases.service import check_helper_version
from wxbackend.identity.models import IdentityCheck
from wxbackend.notices.service import queue_notice
from wxbackend.tickets.service import issue_ticket, take_ticket
from wxbackend.users.models import User

SESSION_TTL = 300
MAX_WRONG_TRIES = 5
CODE_ATTEMPTS = 20  # draws to find a code unused among live codes

# One Lua script so that two phones cannot both claim a code, and wrong tries are counted exactly.
CLAIM_SCRIPT = """
local sid = redis.call('GET', KEYS[1])
if not sid then return {'unknown'} end
local skey = 'bind:s:' .. sid
local state = redis.call('HGET', skey, 'state')
if state == 'dead' then return {'dead', sid} end
if state ~= 'waiting' then return {'unknown'} end
if ARGV[1] ~= '' and redis.call('HGET', skey, 'last4') ~= ARGV[1] then
  local failures = redis.call('HINCRBY', skey, 'failures', 1)
  if failures >= tonumber(ARGV[4]) then
    redis.call('HSET', skey, 'state', 'dead')
    return {'killed', sid}
  end
  return {'wrong_last4', sid, tostring(failures)}
end
redis.call('DEL', KEYS[1])
redis.call('HSET', skey, 'state', 'claimed', 'claimed_by', ARGV[2], 'claimant', ARGV[3])
return {'claimed', sid, redis.call('HGET', skey, 'certificate_id')}
"""


class CodeInvalid(DomainError):
    code, message = "code_invalid", "绑定码错误或已过期，请核对电脑上显示的绑定码"


class SignatureInvalid(DomainError):
    code, message, status = "signature_invalid", "证书签名验证失败，请重新操作", 400


class SessionGone(DomainError):
    code, message, status = "session_expired", "绑定码已过期，请在电脑上重新获取", 410


@dataclass(frozen=True)
class OpenedSession:
    session_id: str
    pc_token: str
    code: str
    qr_token: str
    medium_last4: str
    expires_in: int


def _code_key(code: str) -> str:
    digest = hmac.new(current_app.config["SECRET_KEY"].encode(), f"bind-code:{code}".encode(), hashlib.sha256)
    return f"bind:code:{digest.hexdigest()}"


def _session_key(session_id: str) -> str:
    return f"bind:s:{session_id}"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _seconds_left(session: dict) -> int:
    return max(int(session["expires_at"]) - int(time.time()), 0)


def _active_binding(user_id: int, certificate_id: int) -> Binding | None:
    return db.session.scalar(sa.select(Binding).where(
        Binding.user_id == user_id, Binding.certificate_id == certificate_id, Binding.status == BindingStatus.ACTIVE))


def _load_session(session_id: object) -> dict:
    if not isinstance(session_id, str) or len(session_id) > 64:
        raise SessionGone()
    data = get_redis().hgetall(_session_key(session_id))
    if not data:
        raise SessionGone()
    return {k.decode(): v.decode() for k, v in data.items()}


def certificate_for_binding(cert_pem: object) -> Certificate:
    """The known certificate behind a PEM read from a key: issued by our CA, on record, in use (not on hold,
    revoked or superseded: its status, the one truth), not expired past policy. Raises CertificateRefused with
    the reason."""
    record = certificate_from_key(cert_pem)
    require_in_use(record, "绑定")
    if record.not_after + timedelta(days=current_app.config["RENEW_EXPIRED_MAX_DAYS"]) < utcnow():
        raise CertificateRefused("该证书已过期超过一年，请到柜台办理")
    return record


def start_binding(cert_pem: object, ip: str, helper_version: str | None = None) -> dict:
    """Check the certificate read from the key and hand out a `sign` ticket for its key. HelperOutdated when the
    page reports a helper older than HELPER_MIN_VERSION."""
    check_helper_version(helper_version)
    record = certificate_for_binding(cert_pem)
    ticket = issue_ticket("sign", token_serial=record.medium_number, cert_serial=record.serial,
                          context={"certificate_id": record.id})
    record_audit("pc", "binding.start", target=f"certificate:{record.id}", ip=ip)
    return {"ticket": ticket.ticket, "ticket_id": ticket.ticket_id, "certificate": record}


def open_binding_session(ticket_id: object, signature_b64: object, ip: str) -> OpenedSession:
    """Verify the key's signature over the ticket's challenge; then a binding session with a fresh code."""
    ticket = take_ticket(ticket_id, "sign")
    record = db.session.get(Certificate, ticket["context"]["certificate_id"])
    if not signed_by_certificate(record.pem, unb64url(ticket["challenge"]), signature_b64):
        record_audit("pc", "binding.signature", target=f"certificate:{record.id}", result="refused", ip=ip)
        raise SignatureInvalid()

    r = get_redis()
    session_id = secrets.token_urlsafe(16)
    pc_token = secrets.token_urlsafe(24)
    qr_token = secrets.token_urlsafe(24)  # 192 bits
    for _ in range(CODE_ATTEMPTS):
        code = f"{secrets.randbelow(10**8):08d}"
        code_key = _code_key(code)
        if r.set(code_key, session_id, nx=True, ex=SESSION_TTL):
            break
    else:
        raise DomainError("系统繁忙，请稍后再试", code="busy", status=503)
    pipe = r.pipeline()
    pipe.hset(_session_key(session_id), mapping={
        "certificate_id": record.id, "last4": record.medium_last4, "state": "waiting", "failures": 0,
        "pc_token": _hash(pc_token), "code_key": code_key,
        "expires_at": int(time.time()) + SESSION_TTL, "claimed_by": "", "claimant": "",
    })
    pipe.expire(_session_key(session_id), SESSION_TTL)
    pipe.set(f"bind:qr:{_hash(qr_token)}", session_id, ex=SESSION_TTL)
    pipe.execute()
    record_audit("pc", "binding.code_issued", target=f"certificate:{record.id}", ip=ip)
    return OpenedSession(session_id=session_id, pc_token=pc_token, code=code, qr_token=qr_token,
                         medium_last4=record.medium_last4, expires_in=SESSION_TTL)


def qr_svg(qr_token: str) -> str:
    """An SVG QR code of the phone link that claims the session without typing the code."""
    return svg_of(f"{current_app.config['PUBLIC_BASE_URL'].rstrip('/')}/h5/bind?qr={qr_token}")


def _pc_session(session_id: object, pc_token: object) -> dict:
    session = _load_session(session_id)
    if not isinstance(pc_token, str) or not hmac.compare_digest(session["pc_token"], _hash(pc_token)):
        raise SessionGone()
    return session


def pc_session_state(session_id: object, pc_token: object) -> dict:
    """What the PC page shows while it waits: state, who claimed it (masked), seconds left."""
    session = _pc_session(session_id, pc_token)
    return {"state": session["state"], "claimant": session["claimant"] or None, "expires_in": _seconds_left(session)}


def claimant_label(user: User) -> str:
    """What the PC shows of the person claiming its code, something its user recognises, and the time: the WeChat
    nickname when known, else the name and mobile of their identity check (masked), else that they are not yet
    verified. `微信用户 张** 138****5678（10:32）`."""
    check = db.session.scalar(sa.select(IdentityCheck).where(IdentityCheck.user_id == user.id,
                                                             IdentityCheck.result == "passed")
                              .order_by(IdentityCheck.id.desc()).limit(1))
    if user.nickname:
        who = user.nickname[0] + "**" + (f" {check.mobile_masked}" if check else "")
    elif check:
        who = f"{check.name[0]}** {check.mobile_masked}"
    else:
        who = "（尚未实名认证）"
    return f"微信用户 {who}（{utcnow().astimezone(SHANGHAI):%H:%M}）"


def _claim(user: User, code_key: str, last4: str, ip: str, *, by_qr: bool = False) -> str:
    scopes = scopes_for(user.id, ip)
    check_budget(scopes, proven=by_qr)
    result = [item.decode() if isinstance(item, bytes) else item for item in get_redis().eval(
        CLAIM_SCRIPT, 1, code_key, last4, str(user.id), claimant_label(user), MAX_WRONG_TRIES)]
    outcome = result[0]
    actor = f"user:{user.id}"
    if outcome == "claimed":
        session_id = result[1]
        _refuse_unless_bindable(session_id, int(result[2]), actor, ip)
        record_audit(actor, "binding.claim", target=f"binding_session:{session_id[:8]}", ip=ip)
        return session_id
    record_failure(scopes)
    record_audit(actor, "binding.claim", result=outcome, ip=ip)
    if outcome == "dead":
        raise TooManyAttempts(SESSION_TTL, "该绑定码错误次数过多已失效，请在电脑上重新获取")
    if outcome == "killed":
        raise CodeInvalid("介质号后四位错误次数过多，该绑定码已失效，请在电脑上重新获取")
    if outcome == "wrong_last4":
        left = MAX_WRONG_TRIES - int(result[2])
        raise CodeInvalid(f"介质号后四位不正确，还可尝试{left}次", code="last4_incorrect")
    raise CodeInvalid()


def _refuse_unless_bindable(session_id: str, certificate_id: int, actor: str, ip: str) -> None:
    """The certificate may have been put on hold or revoked since the PC read it: then the session ends (the PC
    sees it rejected) and the claim is refused."""
    certificate = db.session.get(Certificate, certificate_id)
    refused = refusal_for(certificate, "绑定")
    if refused is not None:
        get_redis().hset(_session_key(session_id), "state", "rejected")
        record_audit(actor, "binding.claim", target=f"certificate:{certificate.id}", result="not_in_use", ip=ip,
                     detail={"status": certificate.status})
        raise refused


def claim_by_code(user_id: int, code: object, last4: object, ip: str) -> str:
    """The phone's claim with the 8-digit code and the medium number's last 4. Returns the session id."""
    user = db.session.get(User, user_id)
    code = code.strip() if isinstance(code, str) else ""
    last4 = last4.strip() if isinstance(last4, str) else ""
    if not (len(code) == 8 and code.isdigit()):
        raise CodeInvalid("请输入8位数字绑定码", code="invalid_input")
    if not (len(last4) == 4 and last4.isalnum()):
        raise CodeInvalid("请输入介质号后四位", code="invalid_input")
    return _claim(user, _code_key(code), last4, ip)


def claim_by_qr(user_id: int, qr_token: object, ip: str) -> str:
    """The phone's claim from the scanned QR code (the token itself is unguessable)."""
    user = db.session.get(User, user_id)
    if not isinstance(qr_token, str) or not 20 <= len(qr_token) <= 64:
        raise CodeInvalid("二维码无效或已过期，请在电脑上重新获取")
    session_id = get_redis().get(f"bind:qr:{_hash(qr_token)}")
    if session_id is None:
        scopes = scopes_for(user.id, ip)
        check_budget(scopes)
        record_failure(scopes)
        raise CodeInvalid("二维码无效或已过期，请在电脑上重新获取")
    session = _load_session(session_id.decode())
    return _claim(user, session["code_key"], "", ip, by_qr=True)


def phone_session_state(user_id: int, session_id: object) -> dict:
    """What the phone shows after claiming: only the claimant may look."""
    session = _load_session(session_id)
    if session["claimed_by"] != str(user_id):
        raise SessionGone()
    certificate = db.session.get(Certificate, int(session["certificate_id"]))
    bound = session["state"] == "bound"  # the organisation is told only once the PC has confirmed
    return {"state": session["state"], "certificate_id": certificate.id if bound else None,
            "organisation": certificate.subject_o if bound else "", "expires_in": _seconds_left(session)}


def confirm_binding(session_id: object, pc_token: object, accept: bool, ip: str) -> dict:
    """The PC's answer to a claim. Accept → the binding is active and the user gets a notice."""
    session = _pc_session(session_id, pc_token)
    if session["state"] != "claimed":
        raise DomainError("当前没有待确认的绑定请求", code="nothing_to_confirm", status=409)
    key = _session_key(session_id)
    # Only the first answer counts (another tab, a double click).
    if not get_redis().set(f"{key}:answered", 1, nx=True, ex=SESSION_TTL):
        raise DomainError("该绑定请求已处理", code="nothing_to_confirm", status=409)
    user_id = int(session["claimed_by"])
    certificate_id = int(session["certificate_id"])
    if not accept:
        get_redis().hset(key, "state", "rejected")
        record_audit("pc", "binding.rejected", target=f"certificate:{certificate_id}", ip=ip,
                     detail={"user_id": user_id})
        return {"state": "rejected"}
    certificate = lock_certificate(certificate_id)
    refused = refusal_for(certificate, "绑定")
    if refused is not None:  # put on hold or revoked since the claim
        get_redis().hset(key, "state", "rejected")
        record_audit("pc", "binding.confirmed", target=f"certificate:{certificate_id}", result="not_in_use", ip=ip,
                     detail={"user_id": user_id, "status": certificate.status})
        raise refused
    if _active_binding(user_id, certificate_id) is None:
        db.session.add(Binding(user_id=user_id, certificate_id=certificate_id))
        db.session.flush()
    get_redis().hset(key, "state", "bound")
    record_audit("pc", "binding.confirmed", target=f"certificate:{certificate_id}", ip=ip,
                 detail={"user_id": user_id})
    queue_notice(user_id, "binding_success", {"organisation": certificate.subject_o, "serial": certificate.serial,
                                              "medium_last4": certificate.medium_last4})
    return {"state": "bound"}


def unbind(user_id: int, certificate_id: int) -> None:
    """End the user's own binding to a certificate. NotFound when the user has none (others' stay hidden)."""
    binding = _active_binding(user_id, certificate_id)
    if binding is None:
        raise NotFound("没有找到该证书")
    end_binding(binding)
    record_audit(f"user:{user_id}", "binding.unbound", target=f"certificate:{certificate_id}")
    db.session.flush()
