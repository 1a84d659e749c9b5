"""Express tracking behind one interface, chosen by EXPRESS_ADAPTER, shaped like 快递100's real-time query API:
`local` (development: a made-up waybill that moves one step every EXPRESS_LOCAL_STEP_MINUTES from its first
query) and `kuaidi100` (POST form customer, sign = MD5(param + key + customer) upper-case, param = JSON {com, num,
phone}).

Only the last 4 digits of the phone are sent (顺丰 needs them; the others ignore them). How often a waybill may
be asked about (at most once per 30 minutes) is the caller's rule: each call here is one query.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import requests
from flask import current_app

from wxbackend.core.errors import DomainError, UpstreamError
from wxbackend.core.redis import get_redis
from wxbackend.core.times import SHANGHAI, utcnow

log = logging.getLogger(__name__)

UNAVAILABLE = "物流查询服务暂时不可用，请稍后再试"

CARRIERS: dict[str, str] = {
    "shunfeng": "顺丰速运",
    "ems": "EMS",
    "youzhengguonei": "邮政快递包裹",
    "jd": "京东物流",
    "yuantong": "圆通速递",
    "zhongtong": "中通快递",
    "shentong": "申通快递",
    "yunda": "韵达快递",
    "jtexpress": "极兔速递",
    "debangkuaidi": "德邦快递",
}
CARRIERS_NEEDING_PHONE = frozenset({"shunfeng", "shunfengkuaiyun"})

NO_INFORMATION = -1  # our own state: the carrier has no record of the waybill yet (快递100 returnCode 500)
STATE_LABELS: dict[int, str] = {
    NO_INFORMATION: "暂无物流信息",
    0: "在途",
    1: "揽收",
    2: "疑难",
    3: "签收",
    4: "退签",
    5: "派件",
    6: "退回",
    7: "转投",
    8: "清关",
    10: "待清关",
    11: "清关中",
    12: "已清关",
    13: "清关异常",
    14: "拒签",
}
SIGNED = 3


@dataclass(frozen=True)
class TrackingEvent:
    time: datetime  # aware (Asia/Shanghai as the carrier reports it)
    context: str


@dataclass(frozen=True)
class Tracking:
    state: int
    state_label: str
    events: list[TrackingEvent]  # newest first
    signed: bool


class ExpressRefused(DomainError):
    """The query itself is wrong (unknown carrier, the phone's last 4 digits do not match): asking again the same
    way cannot help."""

    code, message, status = "express_refused", "物流查询被拒绝", 422


class ExpressTracker(Protocol):
    name: str

    def query(self, *, carrier: str, number: str, phone: str) -> Tracking: ...


def state_label(state: int) -> str:
    return STATE_LABELS.get(state, "其他")


def _check(carrier: str, number: str) -> None:
    if carrier not in CARRIERS:
        raise ExpressRefused("不支持的快递公司")
    if not number or len(number) > 32 or not number.isascii() or not number.isalnum():
        raise ExpressRefused("快递单号格式不正确")


# The local waybill's story: (state after this step, what the carrier says).
LOCAL_STEPS = [
    (1, "【广州市】{carrier}快递员已揽收"),
    (0, "【广州市】快件已到达广州转运中心"),
    (0, "【广州市】快件已从广州转运中心发出，正在发往目的地"),
    (5, "【目的地】快递员正在派件，电话尾号{tail}"),
    (3, "【目的地】已签收，签收人：本人。感谢使用{carrier}"),
]


class LocalExpress:
    """Development only: the first query of a waybill starts its clock (in Redis); it then moves one step of
    LOCAL_STEPS every `step` until 签收. Never used in production."""

    name = "local"

    def __init__(self, step: timedelta):
        self.step = step

    def query(self, *, carrier: str, number: str, phone: str) -> Tracking:
        _check(carrier, number)
        now = utcnow()
        key = f"express:local:{carrier}:{number}"
        get_redis().set(key, now.timestamp(), nx=True, ex=60 * 86400)
        started = datetime.fromtimestamp(float(get_redis().get(key)), SHANGHAI)
        done = min(len(LOCAL_STEPS), int((now - started) / self.step) + 1)
        events = [TrackingEvent(started + self.step * i,
                                text.format(carrier=CARRIERS[carrier], tail=phone[-4:] or "0000"))
                  for i, (_, text) in enumerate(LOCAL_STEPS[:done])]
        state = LOCAL_STEPS[done - 1][0]
        return Tracking(state, state_label(state), list(reversed(events)), state == SIGNED)


def kuaidi100_sign(param: str, key: str, customer: str) -> str:
    # 快递100's own scheme (MD5 over a shared key), not our choice of hash
    return hashlib.md5((param + key + customer).encode(), usedforsecurity=False).hexdigest().upper()


class Kuaidi100Express:
    """快递100 实时查询 (poll/query.do). Success: {status "200", state, ischeck, data [{time, ftime, context}]};
    failure: {result false, returnCode, message} — 500 查询无结果 is NO_INFORMATION, 400/408 a refusal."""

    name = "kuaidi100"

    def __init__(self, url: str, customer: str, key: str, timeout: float):
        self.url, self.customer, self.key, self.timeout = url, customer, key, timeout

    def query(self, *, carrier: str, number: str, phone: str) -> Tracking:
        _check(carrier, number)
        tail = "".join(ch for ch in phone if ch.isdigit())[-4:]
        if carrier in CARRIERS_NEEDING_PHONE and len(tail) != 4:
            raise ExpressRefused("查询顺丰快递需要收件人手机号后四位")
        param = json.dumps({"com": carrier, "num": number, "phone": tail}, ensure_ascii=False,
                           separators=(",", ":"))
        form = {"customer": self.customer, "sign": kuaidi100_sign(param, self.key, self.customer), "param": param}
        try:
            response = requests.post(self.url, data=form, timeout=self.timeout)
            response.raise_for_status()
            answer = response.json()
        except (requests.RequestException, ValueError) as failed:
            raise UpstreamError(UNAVAILABLE) from failed
        if not isinstance(answer, dict):
            raise UpstreamError(UNAVAILABLE)
        if str(answer.get("status")) != "200":
            return self._failure(answer, carrier, number)
        try:
            state = int(answer.get("state"))
            events = [TrackingEvent(_carrier_time(item.get("ftime") or item["time"]), str(item["context"]))
                      for item in answer.get("data") or []]
        except (TypeError, ValueError, KeyError) as failed:
            raise UpstreamError(UNAVAILABLE) from failed
        events.sort(key=lambda event: event.time, reverse=True)
        return Tracking(state, state_label(state), events, state == SIGNED)

    @staticmethod
    def _failure(answer: dict, carrier: str, number: str) -> Tracking:
        code = str(answer.get("returnCode", ""))
        if code == "500":
            return Tracking(NO_INFORMATION, state_label(NO_INFORMATION), [], False)
        log.warning("kuaidi100 refused %s %s: %s %s", carrier, number, code, answer.get("message"))
        if code == "408":
            raise ExpressRefused("手机号后四位与快递单不一致")
        if code == "400":
            raise ExpressRefused("快递公司或单号不正确")
        raise UpstreamError(UNAVAILABLE)


def _carrier_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)


def express_tracker() -> ExpressTracker:
    """The tracker EXPRESS_ADAPTER names; `local` refuses to run in production."""
    cfg = current_app.config
    if cfg["EXPRESS_ADAPTER"] == "local":
        if cfg["APP_ENV"] == "production":
            raise UpstreamError("物流查询服务未配置")
        return LocalExpress(timedelta(minutes=cfg["EXPRESS_LOCAL_STEP_MINUTES"]))
    if cfg["EXPRESS_ADAPTER"] == "kuaidi100":
        return Kuaidi100Express(cfg["EXPRESS_QUERY_URL"], cfg["EXPRESS_CUSTOMER"], cfg["EXPRESS_KEY"],
                                cfg["EXPRESS_TIMEOUT_SECONDS"])
    raise ValueError(f"unknown EXPRESS_ADAPTER {cfg['EXPRESS_ADAPTER']!r}")
