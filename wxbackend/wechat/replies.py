"""What the official account answers: welcome on subscribe, a link for each CLICK key, help for keywords.

Everything here is fast and touches neither the database nor WeChat: a reply must come well inside 5 s.
Work that may be slow (user info, hand-over to staff) is queued by `service.handle_message`.
"""

from __future__ import annotations

import time
from functools import lru_cache

from wechatpy.messages import BaseMessage


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text_xml(source: str, target: str, content: str) -> str:
    """A passive text reply, as wechatpy's TextReply renders it (its fields in the same order), made without
    building a reply object, and with a `]]>` in any value split so it cannot end its CDATA section."""
    return (f"<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content>{_cdata(content)}</Content>\n"
            f"<FromUserName>{_cdata(source)}</FromUserName>\n<ToUserName>{_cdata(target)}</ToUserName>\n"
            f"<CreateTime>{int(time.time())}</CreateTime>\n</xml>")


def link(base_url: str, path: str, text: str) -> str:
    return f'<a href="{base_url.rstrip("/")}{path}">{text}</a>'


@lru_cache(maxsize=16)
def welcome(base_url: str) -> str:
    return ("欢迎关注数安CA管家！在这里可以：\n"
            f"· {link(base_url, '/h5/bind', '证书绑定')}：把 U-KEY 证书绑定到微信\n"
            f"· {link(base_url, '/h5/certificates', '我的数字证书')}：查看有效期，到期前在线续期\n"
            f"· {link(base_url, '/h5/', '数安CA管家')}：受理单、发票、地址\n"
            "回复“续期”“绑定”“发票”或“人工”获取帮助。")


@lru_cache(maxsize=64)
def click_reply(base_url: str, key: str) -> str | None:
    pc = base_url.rstrip("/") + "/pc/renew"
    download = base_url.rstrip("/") + "/pc/download"
    replies = {
        "RENEW_GUIDE": ("证书续期三步：\n1. 在“我的数字证书”中选择证书，点击续期并缴费；\n"
                        f"2. 在电脑上插入 U-KEY，打开 {pc}；\n3. 输入 PIN 码，点击续期，新证书写入 U-KEY。\n"
                        + link(base_url, "/h5/certificates", "去续期")),
        "PC_RENEW": f"请在插有 U-KEY 的电脑上用浏览器打开：{pc}\n打开前请先安装并运行证书助手，下载地址：{download}",
        # The menu's 下载证书助手 opens the download page itself; a WeChat client that still shows the older menu
        # sends this key for a while.
        "HELPER_DOWNLOAD": f"请在电脑浏览器中打开 {download} 下载证书助手，页面上有 Windows、Linux、macOS 的安装说明。",
        "CONTACT": "人工客服工作时间：工作日 9:00–18:00。请直接回复您的问题，或回复“人工”，客服会尽快联系您。",
        "FAQ": ("常见问题：\n· 绑定码 5 分钟内有效，过期请在电脑上重新获取；\n"
                "· PIN 码连续输错会被锁定，请勿反复尝试；\n"
                f"· 证书过期超过一年需重新申请。{link(base_url, '/h5/', '更多帮助')}"),
    }
    return replies.get(key)


def text_reply(base_url: str, content: str) -> str:
    content = content.strip()
    if "续期" in content:
        return click_reply(base_url, "RENEW_GUIDE") or ""
    if "绑定" in content:
        return (f"绑定证书：在电脑上插入 U-KEY 并打开 {base_url.rstrip('/')}/pc/bind ，输入 PIN 码获取 8 位绑定码，"
                f"然后在{link(base_url, '/h5/bind', '证书绑定')}中输入（5 分钟内有效）。")
    if "发票" in content:
        return f"缴费后可在{link(base_url, '/h5/invoices', '我的发票')}中申请开票，电子发票将发送到您的邮箱。"
    if "人工" in content:
        return "已为您转接人工客服，客服将在工作时间（工作日 9:00–18:00）内回复您。"
    return help_text(base_url)


def conversation_reply(base_url: str, content: str) -> str:
    """The answer to a follower whose conversation with staff is live: a keyword's help, else an acknowledgement
    (what they wrote went to staff)."""
    if any(word in content for word in ("续期", "绑定", "发票")):
        return text_reply(base_url, content)
    return "已收到您的留言，人工客服将在工作时间（工作日 9:00–18:00）内回复您。"


@lru_cache(maxsize=16)
def help_text(base_url: str) -> str:
    return (f"您好，这里是数安CA管家。请点击菜单，或回复“续期”“绑定”“发票”“人工”。\n"
            f"{link(base_url, '/h5/', '打开数安CA管家')}")


def wants_staff(message: BaseMessage) -> bool:
    return message.type == "text" and "人工" in (message.content or "")
