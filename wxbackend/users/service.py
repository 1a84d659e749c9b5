"""User services."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from wxbackend.audit.service import record_audit
from wxbackend.core.db import db
from wxbackend.core.errors import DomainError
from wxbackend.core.redis import get_redis
from wxbackend.core.times import utcnow
from wxbackend.users.models import User


def dev_user(name: str) -> User:
    """The development sign-in's user for `name` (an openid of its own), created on first use."""
    name = name.strip()
    if not 1 <= len(name) <= 20:
        raise DomainError("请输入1至20个字的名字", code="invalid_name")
    openid = f"dev-{name}"
    user = db.session.scalar(sa.select(User).where(User.openid == openid))
    if user is None:
        user = User(openid=openid, nickname=name)
        db.session.add(user)
        db.session.flush()
    return user


def user_for_wechat(*, openid: str | None = None, mp_openid: str | None = None, unionid: str | None = None) -> User:
    """The User for a WeChat identity, created on first sight. The unionid joins the official account's
    openid and the mini-program's mp_openid into one person; an id WeChat gives is filled in when missing."""
    if not (openid or mp_openid):
        raise ValueError("openid or mp_openid is required")
    user = None
    if unionid:
        user = db.session.scalar(sa.select(User).where(User.unionid == unionid))
    if user is None and openid:
        user = db.session.scalar(sa.select(User).where(User.openid == openid))
    if user is None and mp_openid:
        user = db.session.scalar(sa.select(User).where(User.mp_openid == mp_openid))
    if user is None:
        try:
            with db.session.begin_nested():  # two first requests at once: the loser finds the winner's row
                user = User(openid=openid, mp_openid=mp_openid, unionid=unionid)
                db.session.add(user)
        except IntegrityError:
            return user_for_wechat(openid=openid, mp_openid=mp_openid, unionid=unionid)
    for field, value in (("openid", openid), ("mp_openid", mp_openid), ("unionid", unionid)):
        if value and getattr(user, field) is None:
            setattr(user, field, value)
    db.session.flush()
    return user


def set_following(openid: str, following: bool, unionid: str | None = None) -> User:
    """Record that `openid` followed (or unfollowed) the official account."""
    user = user_for_wechat(openid=openid, unionid=unionid)
    user.following = following
    user.following_changed_at = utcnow()
    db.session.flush()
    return user


def get_user(user_id: int) -> User | None:
    return db.session.get(User, user_id)


# ------------------------------------------------------------------------------------- 扫码登录 on the PC
#
# The PC asks for a login (`open_pc_login`): a login id, a PC token (the PC's proof, sent back in `X-PC-Token`) and a
# QR token (the phone's link), both kept in Redis only as SHA-256 hashes, for PC_LOGIN_TTL seconds. The first phone
# to open the link claims it (`scan_pc_login`); only that user may confirm or refuse it (`answer_pc_login`); the PC
# then takes the confirmed login once (`take_pc_login`) and gets the customer session.

PC_LOGIN_TTL = 300

# One move of a login's state, atomically: from ARGV[1] to ARGV[2]. With ARGV[3] (a user id) and ARGV[4] == 'claim'
# the mover becomes the scanner; with ARGV[3] alone the mover must be the scanner. Returns {'ok', scanner} or
# {current state}; {'gone'} when the login is unknown or expired, {'not_yours'} for another user.
PC_LOGIN_MOVE = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'gone'} end
local by = redis.call('HGET', KEYS[1], 'scanned_by') or ''
if ARGV[3] ~= '' and ARGV[4] ~= 'claim' and by ~= ARGV[3] then return {'not_yours'} end
if state ~= ARGV[1] then return {state, by} end
if ARGV[4] == 'claim' then
  by = ARGV[3]
  redis.call('HSET', KEYS[1], 'scanned_by', by, 'scanned_at', ARGV[5])
end
redis.call('HSET', KEYS[1], 'state', ARGV[2])
return {'ok', by}
"""


class PcLoginGone(DomainError):
    code, message, status = "login_expired", "二维码已失效，请在电脑上刷新二维码后重新扫描", 410


class PcLoginTaken(DomainError):
    code, message, status = "login_taken", "该二维码已被其他微信扫描，请在电脑上刷新二维码", 409


@dataclass(frozen=True)
class OpenedPcLogin:
    login_id: str
    pc_token: str
    qr_token: str
    expires_in: int


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _pc_login_key(login_id: str) -> str:
    return f"pclogin:s:{login_id}"


def _move(login_id: str, from_state: str, to_state: str, user_id: int | None = None, claim: bool = False) -> list[str]:
    result = get_redis().eval(PC_LOGIN_MOVE, 1, _pc_login_key(login_id), from_state, to_state,
                              "" if user_id is None else str(user_id), "claim" if claim else "", str(int(time.time())))
    return [item.decode() if isinstance(item, bytes) else item for item in result]


def _load_pc_login(login_id: object) -> dict[str, str]:
    if not isinstance(login_id, str) or not 16 <= len(login_id) <= 64:
        raise PcLoginGone()
    data = get_redis().hgetall(_pc_login_key(login_id))
    if not data:
        raise PcLoginGone()
    return {k.decode(): v.decode() for k, v in data.items()}


def _seconds_left(login: dict[str, str]) -> int:
    return max(int(login["expires_at"]) - int(time.time()), 0)


def describe_ip(ip: str) -> str:
    """What the phone shows of the PC's address: its network kind and the address with the last part masked (no
    geolocation database is shipped, so no city is claimed)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "未知网络"
    if address.is_loopback or address.is_private or address.is_link_local:
        kind = "内网"
    else:
        kind = "公网"
    if address.version == 4:
        masked = ".".join(str(address).split(".")[:3]) + ".*"
    else:
        masked = ":".join(address.exploded.split(":")[:3]) + ":*"
    return f"{kind} IP {masked}"


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
             ("Safari/", "Safari"))
_SYSTEMS = (("Windows", "Windows"), ("Mac OS X", "macOS"), ("Android", "Android"), ("iPhone", "iOS"),
            ("Linux", "Linux"))


def describe_browser(user_agent: str) -> str:
    """`Chrome（Windows）` from a User-Agent; what cannot be told is 未知."""
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), "未知浏览器")
    system = next((name for mark, name in _SYSTEMS if mark in user_agent), "未知系统")
    return f"{browser}（{system}）"


def safe_pc_next(target: object) -> str:
    """Where the PC goes once signed in: only our own /pc/ or /h5/ paths, else the PC home."""
    if (isinstance(target, str) and len(target) <= 512 and target.startswith(("/pc/", "/h5/"))
            and "//" not in target and "\\" not in target and not any(ord(c) < 33 for c in target)
            and not target.startswith("/pc/login")):
        return target
    return "/pc/home"


def open_pc_login(ip: str, user_agent: str, next_path: object = None) -> OpenedPcLogin:
    """A new QR login for the PC at `ip`, valid PC_LOGIN_TTL seconds. Only hashes of its tokens are stored."""
    login_id, pc_token, qr_token = (secrets.token_urlsafe(24) for _ in range(3))
    now = int(time.time())
    record = {"state": "waiting", "pc_token": _token_hash(pc_token), "qr_token": _token_hash(qr_token),
              "scanned_by": "", "ip": ip[:64], "device": describe_browser(user_agent or "")[:64],
              "created_at": str(now), "expires_at": str(now + PC_LOGIN_TTL), "next": safe_pc_next(next_path)}
    pipe = get_redis().pipeline()
    pipe.hset(_pc_login_key(login_id), mapping=record)
    pipe.expire(_pc_login_key(login_id), PC_LOGIN_TTL)
    pipe.set(f"pclogin:qr:{_token_hash(qr_token)}", login_id, ex=PC_LOGIN_TTL)
    pipe.execute()
    return OpenedPcLogin(login_id=login_id, pc_token=pc_token, qr_token=qr_token, expires_in=PC_LOGIN_TTL)


def _pc_login_for_pc(login_id: object, pc_token: object) -> dict[str, str]:
    login = _load_pc_login(login_id)
    if not isinstance(pc_token, str) or not hmac.compare_digest(login["pc_token"], _token_hash(pc_token)):
        raise PcLoginGone()
    return login


def pc_login_state(login_id: object, pc_token: object) -> dict:
    """What the PC shows while it waits: waiting, scanned (the phone shows the question), confirmed, refused."""
    login = _pc_login_for_pc(login_id, pc_token)
    if login["state"] == "used":
        raise PcLoginGone()
    return {"state": login["state"], "expires_in": _seconds_left(login)}


def scan_pc_login(user_id: int, qr_token: object) -> str:
    """The phone opened the QR link: the first user to do so claims the login (opening it again is the same
    claim). Returns the login id. PcLoginGone for an unknown, expired or answered login; PcLoginTaken when another
    user scanned it first."""
    if not isinstance(qr_token, str) or not 20 <= len(qr_token) <= 64:
        raise PcLoginGone()
    login_id = get_redis().get(f"pclogin:qr:{_token_hash(qr_token)}")
    if login_id is None:
        raise PcLoginGone()
    login_id = login_id.decode()
    result = _move(login_id, "waiting", "scanned", user_id, claim=True)
    if result[0] == "ok" or (result[0] == "scanned" and result[1] == str(user_id)):
        return login_id
    if result[0] == "scanned":
        raise PcLoginTaken()
    raise PcLoginGone()


def pc_login_request(user_id: int, login_id: object) -> dict:
    """What the phone asks its user about: the PC's network and browser, when it asked, the state. Only the
    scanner may look (PcLoginGone otherwise)."""
    login = _load_pc_login(login_id)
    if login["scanned_by"] != str(user_id):
        raise PcLoginGone()
    return {"state": login["state"], "ip": describe_ip(login["ip"]), "device": login["device"],
            "requested_at": datetime.fromtimestamp(int(login["created_at"]), UTC), "expires_in": _seconds_left(login)}


def answer_pc_login(user_id: int, login_id: object, accept: bool, ip: str) -> str:
    """The scanner's 确认登录 or 取消: the login becomes confirmed (the PC may take it) or refused. Only the first
    answer counts."""
    login = _load_pc_login(login_id)
    result = _move(login_id, "scanned", "confirmed" if accept else "refused", user_id)
    if result[0] == "not_yours":
        raise PcLoginGone()
    if result[0] != "ok":
        raise DomainError("该登录请求已处理或已失效，请在电脑上刷新二维码", code="login_answered", status=409)
    record_audit(f"user:{user_id}", "users.pc_login." + ("confirmed" if accept else "refused"),
                 target=f"pc_login:{login_id[:8]}", ip=ip, detail={"pc_ip": login["ip"], "device": login["device"]})
    return "confirmed" if accept else "refused"


def take_pc_login(login_id: object, pc_token: object, ip: str) -> tuple[int, str]:
    """The PC takes its confirmed login, once: (the user id to sign in, where to go). 409 while not confirmed,
    PcLoginGone once taken, refused or expired."""
    login = _pc_login_for_pc(login_id, pc_token)
    result = _move(login_id, "confirmed", "used")
    if result[0] in ("waiting", "scanned"):
        raise DomainError("手机尚未确认登录", code="login_not_confirmed", status=409)
    if result[0] != "ok":
        raise PcLoginGone()
    user_id = int(result[1])
    get_redis().delete(f"pclogin:qr:{login['qr_token']}")
    record_audit(f"user:{user_id}", "users.pc_login.signed_in", target=f"pc_login:{login_id[:8]}", ip=ip,
                 detail={"device": login["device"]})
    return user_id, login["next"]
