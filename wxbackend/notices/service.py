"""Notices to users: WeChat template messages to the official-account openid, or mini-program subscribe
messages when the person came from the mini-program (or the template message was refused as unsubscribed).

Callers enqueue (`queue_notice`); the job calls the configured adapter. A refusal that will not change by
retrying (43004 unsubscribed, 43101 no consent, unknown template) is logged once and dropped; a transient
failure is retried a bounded number of times by rq.

Template ids come from config: `WECHAT_NOTICE_TEMPLATES` and `WECHAT_MINI_NOTICE_TEMPLATES`, each a list of
`kind=template_id`. Template messages carry `first` (the kind's title, or `data["title"]`), `keyword1…n` and
`remark`; subscribe messages `thing1…n` (at most 20 characters each, as WeChat requires for `thing` fields).
`send_template` and `send_subscribe` send one notice at once, for callers that choose the channel themselves
(expiry reminders).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from flask import current_app

from wxbackend.core.db import db
from wxbackend.core.jobs import enqueue_after_commit
from wxbackend.integrations.wechat import NOT_SUBSCRIBED, WeChatError, mini_program, official_account, wechat_call
from wxbackend.users.models import User

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NoticeKind:
    title: str
    fields: tuple[tuple[str, str], ...]  # (label, key in data)
    path: str  # the H5 page the notice opens
    remark: str = ""


NOTICE_KINDS: dict[str, NoticeKind] = {
    "binding_success": NoticeKind("证书绑定成功", (("机构名称", "organisation"), ("证书序列号", "serial")),
                                  "/h5/certificates", "可在“我的数字证书”中查看证书与续期。"),
    "payment_received": NoticeKind("缴费成功", (("受理单号", "order_no"), ("金额", "amount")), "/h5/orders"),
    "audit_result": NoticeKind("审核结果通知", (("受理单号", "order_no"), ("审核结果", "result")), "/h5/orders"),
    "ready_to_write": NoticeKind("证书可以写入", (("受理单号", "order_no"), ("机构名称", "organisation")),
                                 "/h5/orders", "请在插有 U-KEY 的电脑上打开续期页面，输入 PIN 码完成续期。"),
    "renewal_done": NoticeKind("证书续期成功", (("机构名称", "organisation"), ("新有效期至", "not_after")),
                               "/h5/certificates"),
    "invoice_issued": NoticeKind("发票已开具", (("发票号码", "invoice_no"), ("金额", "amount")), "/h5/invoices",
                                 "电子发票已发送到您的邮箱。"),
    "certificate_revoked": NoticeKind("证书已吊销", (("机构名称", "organisation"), ("证书序列号", "serial")),
                                      "/h5/certificates", "该证书因介质遗失已吊销，补办的新证书介质将邮寄给申请人。"),
    "replacement_shipped": NoticeKind("补办介质已寄出", (("受理单号", "order_no"), ("快递公司", "carrier"),
                                                         ("快递单号", "waybill_no")), "/h5/orders",
                                      "可在受理单详情中查看物流进度；PIN码另行发送。"),
    "replacement_delivered": NoticeKind("补办介质已签收", (("受理单号", "order_no"), ("快递单号", "waybill_no")),
                                        "/h5/orders", "受理单已完成。如非本人签收，请及时联系客服。"),
    "expiry_reminder": NoticeKind("证书即将到期", (("机构名称", "organisation"), ("到期日期", "not_after")),
                                  "/h5/certificates", "请及时续期，以免影响使用。"),
}
PERMANENT_REFUSALS = {40003, 40037, 43004, 43101}  # invalid openid, unknown template, unsubscribed, no consent


class NoticeAdapter(Protocol):
    def send(self, user_id: int, kind: str, data: dict) -> str: ...


def template_ids(config_key: str) -> dict[str, str]:
    return dict(entry.split("=", 1) for entry in current_app.config[config_key] if "=" in entry)


def template_message(kind: str, data: dict) -> dict:
    spec = NOTICE_KINDS[kind]
    message = {"first": {"value": str(data.get("title") or spec.title)}}
    for n, (_, key) in enumerate(spec.fields, start=1):
        message[f"keyword{n}"] = {"value": str(data.get(key, ""))}
    if spec.remark:
        message["remark"] = {"value": spec.remark}
    return message


def subscribe_message(kind: str, data: dict) -> dict:
    spec = NOTICE_KINDS[kind]
    values = [str(data.get("title") or spec.title)] + [str(data.get(key, "")) for _, key in spec.fields]
    return {f"thing{n}": {"value": value[:20]} for n, value in enumerate(values, start=1)}


def send_template(user: User, kind: str, data: dict, path: str | None = None) -> bool:
    """Send notice `kind` as a template message to the user's official-account openid, opening `path` (an H5 path;
    the kind's own page by default) on our public address, through OAuth like every H5 page. False when the user
    has no openid or no template is configured for `kind`; WeChatError when WeChat refuses or cannot be reached."""
    template = template_ids("WECHAT_NOTICE_TEMPLATES").get(kind)
    if not (user.openid and template):
        return False
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    with wechat_call():
        official_account().message.send_template(user.openid, template, template_message(kind, data),
                                                 url=base + (path or NOTICE_KINDS[kind].path))
    return True


def send_subscribe(user: User, kind: str, data: dict, page: str = "pages/index/index") -> bool:
    """Send notice `kind` as a mini-program subscribe message, opening the mini-program's `page`. False when the
    user has no mp_openid or no subscribe template is configured for `kind`; WeChatError when WeChat refuses (43101:
    no accept left) or cannot be reached."""
    template = template_ids("WECHAT_MINI_NOTICE_TEMPLATES").get(kind)
    if not (user.mp_openid and template):
        return False
    with wechat_call():
        mini_program().wxa.send_subscribe_message(user.mp_openid, template, subscribe_message(kind, data), page=page)
    return True


class WeChatNotices:
    """Template message first (official account), subscribe message as the mini-program's way."""

    def send(self, user_id: int, kind: str, data: dict) -> str:
        """The channel used; WeChatError when WeChat refuses or cannot be reached; '' when no channel fits."""

        user = db.session.get(User, user_id)
        if user is None:
            return ""
        try:
            if send_template(user, kind, data):
                return "template"
        except WeChatError as refused:
            if refused.errcode != NOT_SUBSCRIBED or not (user.mp_openid and
                                                         template_ids("WECHAT_MINI_NOTICE_TEMPLATES").get(kind)):
                raise
        if send_subscribe(user, kind, data):
            return "subscribe"
        log.warning("notice %s to user %s: no template configured for a channel the user has", kind, user_id)
        return ""


class LogNotices:
    """For deployments without WeChat: the notice is only logged."""

    def send(self, user_id: int, kind: str, data: dict) -> str:
        log.info("notice %s to user %s: %s", kind, user_id, NOTICE_KINDS[kind].title)
        return "log"


def adapter() -> NoticeAdapter:
    name = current_app.config["NOTICES_ADAPTER"]
    if name == "wechat":
        return WeChatNotices()
    if name == "log":
        return LogNotices()
    raise ValueError(f"unknown NOTICES_ADAPTER {name!r}")


def queue_notice(user_id: int, kind: str, data: dict) -> None:
    """Send a notice from a worker once this unit of work commits (never if it rolls back); transient failures
    are retried 3 times."""
    if kind not in NOTICE_KINDS:
        raise ValueError(f"unknown notice kind {kind!r}")
    enqueue_after_commit("notices.send_notice", user_id, kind, data)
