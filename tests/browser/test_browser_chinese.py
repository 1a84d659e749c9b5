"""Every message a user can see is Chinese: a too-long field on the identity page, bad input to the JSON API
(marshmallow's own messages), and the 404 page (no bare error code)."""

from __future__ import annotations

import re

import pytest

from tests.support.live import shot, wechat_phone

pytestmark = pytest.mark.browser
CJK = re.compile(r"[\u4e00-\u9fff]")


def english_sentences(text: str) -> list[str]:
    """Runs of three or more English words: what an untranslated message looks like."""
    return re.findall(r"\b[A-Za-z]{2,}(?: [A-Za-z]{2,}){2,}", text)


def all_strings(value) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in all_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in all_strings(v)]
    return [value] if isinstance(value, str) else []


def test_field_api_and_error_page_messages_are_chinese(live_app, browser):
    base = live_app.base_url
    phone = wechat_phone(browser, live_app, "oChinese00001")
    phone.goto(f"{base}/h5/identity")
    phone.wait_for_selector("#identity-form")
    phone.evaluate("document.querySelector('input[name=name]').removeAttribute('maxlength')")
    phone.fill("input[name=name]", "张" * 25)  # past the 20 characters a name may have
    phone.fill("input[name=id_number]", "11010519491231002X")
    phone.fill("input[name=mobile]", "13812345678")
    phone.check("#consent")
    phone.click("#identity-submit")
    phone.wait_for_selector("#identity-form")
    body = phone.text_content("body")
    assert "经办人姓名最多20个字" in body
    assert english_sentences(body) == []
    shot(phone, "phone-identity-too-long")

    answer = phone.evaluate("""async () => {
      const csrf = document.querySelector('meta[name="csrf-token"]').content;
      const r = await fetch('/api/orders', {method: 'POST', credentials: 'same-origin',
        headers: {'Content-Type': 'application/json', 'X-CSRFToken': csrf},
        body: JSON.stringify({certificate_id: 'abc', years: 9, colour: 'red'})});
      return {status: r.status, body: await r.json()};
    }""")
    assert answer["status"] == 400 and answer["body"]["code"] == "invalid_request"
    messages = all_strings(answer["body"]["errors"])
    assert messages and all(CJK.search(m) for m in messages), messages
    assert "应为整数" in messages and "应在1至5之间" in messages and "不支持的字段" in messages

    phone.goto(f"{base}/h5/orders/999999")
    text = phone.text_content("body")
    assert "没有找到该受理单" in text and "not_found" not in text and "错误代码" not in text
    shot(phone, "phone-not-found")
