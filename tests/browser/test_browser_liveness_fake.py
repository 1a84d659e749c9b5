"""The fake FaceID's hosted page in Chromium: 通过 / 不通过 come back to the return URL with the BizToken, and
only the result pulled server-side says which button was pressed."""

from __future__ import annotations

import pytest

from tests.support.live import PHONE, shot
from wxbackend.integrations.liveness import liveness_provider

pytestmark = pytest.mark.browser


def test_the_hosted_page_returns_with_the_token_and_the_pulled_result_decides(fake_liveness, browser):
    context = browser.new_context(**PHONE)
    page = context.new_page()
    for button, expected in (("通过", "passed"), ("不通过", "failed")):
        started = liveness_provider().start(name="王小明", id_number="11010519491231002X", id_photo=None,
                                            redirect_url=fake_liveness.base_url + "_fake/calls?back=1", extra="")
        page.goto(started.url)
        assert page.locator("#name").inner_text() == "王小明"
        assert "110***********002X" in page.content()
        shot(page, f"liveness-fake-{expected}")
        assert liveness_provider().result(started.biz_token).status == "pending"
        page.get_by_role("button", name=button, exact=True).click()
        page.wait_for_url(f"**BizToken={started.biz_token}")
        assert liveness_provider().result(started.biz_token).status == expected
    context.close()
