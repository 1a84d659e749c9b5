"""The official account's menu, defined here and pushed with `flask wx menu-sync` after validation.

Pages of the CA manager open as `view` buttons through OAuth; `click` buttons answer with a message whose
links point at the same pages (see `replies.CLICK_REPLIES`).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from wxbackend.integrations.wechat import official_account, wechat_call

# WeChat's limits: 3 top-level buttons, 5 sub-buttons each; names 16 / 60 bytes; keys 128; URLs 1024.
MAX_TOP, MAX_SUB = 3, 5
MAX_TOP_NAME, MAX_SUB_NAME, MAX_KEY, MAX_URL = 16, 60, 128, 1024


@dataclass(frozen=True)
class Button:
    name: str
    page: str | None = None  # a path of ours (an H5 page, or a PC page such as /pc/download), opened as a `view` button
    key: str | None = None  # a `click` key


MENU: list[tuple[str, list[Button]]] = [
    ("客户服务", [
        Button("数安CA管家", page="/h5/"),
        Button("我的数字证书", page="/h5/certificates"),
        Button("证书绑定", page="/h5/bind"),
        Button("我的受理单", page="/h5/orders"),
        Button("我的发票", page="/h5/invoices"),
    ]),
    ("证书续期", [
        Button("续期指引", key="RENEW_GUIDE"),
        Button("电脑端续期", key="PC_RENEW"),
        Button("下载证书助手", page="/pc/download"),
    ]),
    ("联系我们", [
        Button("人工客服", key="CONTACT"),
        Button("常见问题", key="FAQ"),
    ]),
]


class MenuInvalid(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def build_menu(base_url: str, menu: list[tuple[str, list[Button]]] = MENU) -> dict:
    """WeChat's menu JSON, with `view` URLs on `base_url`; MenuInvalid names every problem."""
    problems: list[str] = []
    if not 1 <= len(menu) <= MAX_TOP:
        problems.append(f"{len(menu)} top-level buttons (1–{MAX_TOP})")
    buttons = []
    keys: set[str] = set()
    for name, subs in menu:
        if not name or len(name.encode()) > MAX_TOP_NAME:
            problems.append(f"top-level name {name!r} is empty or longer than {MAX_TOP_NAME} bytes")
        if not 1 <= len(subs) <= MAX_SUB:
            problems.append(f"{name}: {len(subs)} sub-buttons (1–{MAX_SUB})")
        rendered = []
        for sub in subs:
            if not sub.name or len(sub.name.encode()) > MAX_SUB_NAME:
                problems.append(f"name {sub.name!r} is empty or longer than {MAX_SUB_NAME} bytes")
            if (sub.page is None) == (sub.key is None):
                problems.append(f"{sub.name}: exactly one of page and key")
            elif sub.key is not None:
                if len(sub.key.encode()) > MAX_KEY or sub.key in keys:
                    problems.append(f"{sub.name}: key {sub.key!r} is too long or used twice")
                keys.add(sub.key)
                rendered.append({"type": "click", "name": sub.name, "key": sub.key})
            else:
                url = base_url.rstrip("/") + sub.page
                if len(url) > MAX_URL or not urlsplit(url).netloc:
                    problems.append(f"{sub.name}: URL {url!r} is not absolute or too long")
                rendered.append({"type": "view", "name": sub.name, "url": url})
        buttons.append({"name": name, "sub_button": rendered})
    if problems:
        raise MenuInvalid(problems)
    return {"button": buttons}


def sync_menu(base_url: str) -> dict:
    """Validate and push the menu; returns what WeChat now holds (read back)."""

    menu = build_menu(base_url)
    client = official_account()
    with wechat_call():
        client.menu.create(menu)
        return client.menu.get()
