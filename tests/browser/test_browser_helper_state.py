"""The PC pages show the helper's state (issue 16), as the CA's own client shows its version: "证书助手 1.0.0 良好"
with the real helper (a subprocess) and a SoftHSM2 key; "需要升级" with the download link and no PIN entry when
HELPER_MIN_VERSION is above the helper's version or the helper reports none; the backend refuses such a start too.
The download page with the single file built by scripts/build_helper.sh; the phone's binding page with the PC
addresses. Screenshots go to test-artifacts/."""

from __future__ import annotations

import json
import threading

import pytest
from werkzeug.serving import make_server

from tests.conftest import PKCS11_MODULE, TICKET_PUBLIC_KEY, free_port
from tests.support.live import make_demo_key, on_page, paid_order_for, shot, wechat_phone
from ukey_helper import __version__
from ukey_helper.app import create_helper_app
from ukey_helper.config import HelperConfig

pytestmark = pytest.mark.browser
DETECTED = ("document.querySelector('#detect-status') && "
            "!document.querySelector('#detect-status').textContent.startsWith('正在检测')")


def pc_page(browser):
    return browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()


def serve_versionless_helper(origin: str):
    """The real helper app answering as a helper from before versions did: without its `helper` field."""
    port = free_port()
    cfg = HelperConfig.load(environ={"PKCS11_MODULE": PKCS11_MODULE, "HELPER_PORT": str(port),
                                     "HELPER_ALLOWED_ORIGINS": origin, "HELPER_TICKET_PUBLIC_KEYS": TICKET_PUBLIC_KEY})
    app = create_helper_app(cfg)

    @app.after_request
    def without_version(response):
        if response.is_json:
            body = response.get_json()
            body.pop("helper", None)
            response.set_data(json.dumps(body))
        return response

    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, port


def start_status(pc, path: str, body: dict) -> dict:
    """What the backend answers when the page (or anyone) calls a PC start endpoint directly."""
    return pc.evaluate("""async ([path, body]) => {
        const r = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"},
                                     body: JSON.stringify(body)});
        return {status: r.status, body: await r.json()};
    }""", [path, body])


def test_the_pages_show_a_current_helper_as_good(live_app, live_helper, browser):
    serial, cert_id, _ = make_demo_key(live_app)
    paid_order_for(live_app, cert_id, "oHelperGood01")
    live_helper()
    pc = pc_page(browser)
    pc.goto(f"{live_app.base_url}/pc/bind")
    pc.wait_for_selector("#panel-pin:not([hidden])")
    assert pc.text_content("#helper-state") == f"证书助手 {__version__} 良好"
    assert pc.get_attribute("#helper-state", "class") == "helper-state ok"
    assert pc.is_visible("#pin") and pc.is_hidden("#helper-upgrade")
    shot(pc, "pc-bind-helper-good")
    pc.goto(f"{live_app.base_url}/pc/renew")
    pc.wait_for_selector("#panel-order:not([hidden])")
    assert pc.text_content("#helper-state") == f"证书助手 {__version__} 良好"
    assert pc.is_visible("#pin")
    shot(pc, "pc-renew-helper-good")


def test_an_older_helper_must_be_upgraded_before_any_pin(live_app, live_helper, built_helper, browser, monkeypatch):
    serial, cert_id, _ = make_demo_key(live_app)
    paid_order_for(live_app, cert_id, "oHelperOld001")
    live_helper()
    monkeypatch.setitem(live_app.config, "HELPER_MIN_VERSION", "9.0.0")
    monkeypatch.setitem(live_app.config, "HELPER_RELEASE_DIR", str(built_helper.directory))
    pc = pc_page(browser)
    pc.goto(f"{live_app.base_url}/pc/bind")
    pc.wait_for_selector("#helper-upgrade:not([hidden])")
    assert pc.text_content("#helper-state") == f"证书助手 {__version__} 需要升级 下载新版本"
    assert pc.get_attribute("#helper-state", "class") == "helper-state bad"
    assert "本页面需要证书助手 9.0.0 或更高版本" in pc.text_content("#helper-upgrade")
    assert pc.is_hidden("#panel-pin") and not pc.is_visible("#pin")  # refused: no PIN entry at all
    assert pc.is_visible("#btn-redetect") and pc.text_content("#detect-status") == ""
    shot(pc, "pc-bind-helper-outdated")

    # the page is not trusted: the backend refuses the start itself
    pem = pc.evaluate("fetch(window.CAGJ.helper + '/v1/token').then(r => r.json())")["certificates"][0]["pem"]
    refused = start_status(pc, "/pc/api/bind/start", {"certificate": pem, "helper_version": __version__})
    assert refused["status"] == 409 and refused["body"]["code"] == "helper_outdated"
    assert "9.0.0" in refused["body"]["message"]
    refused = start_status(pc, "/pc/api/renew/start", {"certificate": pem, "helper_version": __version__})
    assert refused["status"] == 409 and refused["body"]["code"] == "helper_outdated"

    pc.goto(f"{live_app.base_url}/pc/renew")
    pc.wait_for_selector("#helper-upgrade:not([hidden])")
    assert pc.text_content("#helper-state").startswith(f"证书助手 {__version__} 需要升级")
    assert pc.is_hidden("#panel-order") and not pc.is_visible("#pin")
    shot(pc, "pc-renew-helper-outdated")

    pc.click("#helper-state a")  # 下载新版本
    pc.wait_for_selector("#downloads")
    assert on_page(pc, live_app.base_url, "/pc/download")
    assert pc.locator(f'tr[data-file="{built_helper.path.name}"]').count() == 1


def test_a_helper_that_reports_no_version_must_be_upgraded(live_app, browser, monkeypatch):
    make_demo_key(live_app)
    server, port = serve_versionless_helper(live_app.base_url)
    monkeypatch.setitem(live_app.config, "HELPER_PORT", port)
    try:
        pc = pc_page(browser)
        pc.goto(f"{live_app.base_url}/pc/bind")
        pc.wait_for_selector("#helper-upgrade:not([hidden])")
        assert pc.text_content("#helper-state") == "证书助手 （版本未知） 需要升级 下载新版本"
        assert pc.is_hidden("#panel-pin")
        shot(pc, "pc-bind-helper-versionless")
    finally:
        server.shutdown()


def test_no_helper_points_to_the_download_page(live_app, browser, monkeypatch):
    monkeypatch.setitem(live_app.config, "HELPER_PORT", free_port())
    pc = pc_page(browser)
    for path in ("/pc/bind", "/pc/renew"):
        pc.goto(f"{live_app.base_url}{path}")
        pc.wait_for_selector("#helper-missing:not([hidden])")
        assert pc.get_attribute("#helper-missing a", "href") == "/pc/download"
        assert pc.is_hidden("#helper-state") and "python -m" not in pc.text_content("body")
    shot(pc, "pc-renew-no-helper")


def test_the_download_page_offers_the_built_single_file(live_app, built_helper, browser, monkeypatch):
    monkeypatch.setitem(live_app.config, "HELPER_RELEASE_DIR", str(built_helper.directory))
    pc = pc_page(browser)
    pc.goto(f"{live_app.base_url}/pc/download")
    row = pc.locator(f'tr[data-file="{built_helper.path.name}"]')
    assert row.locator(".version").text_content() == __version__
    sums = (built_helper.directory / "SHA256SUMS").read_text().split()
    assert row.locator(".sha").text_content() == sums[0]
    assert pc.is_visible("#no-windows")
    assert pc.text_content("#run-command") == f"python3 {built_helper.path.name} --config helper.json"
    shot(pc, "pc-download")
    with pc.expect_download() as download:
        row.locator("a.file").click()
    assert download.value.suggested_filename == built_helper.path.name
    assert download.value.path().read_bytes() == built_helper.path.read_bytes()


def test_the_phones_binding_page_shows_where_to_go_on_the_pc(live_app, browser):
    phone = wechat_phone(browser, live_app, "oPhoneAddr001")
    phone.goto(f"{live_app.base_url}/h5/bind")
    assert phone.text_content("#pc-bind-url") == f"{live_app.base_url}/pc/bind"
    assert phone.text_content("#pc-download-url") == f"{live_app.base_url}/pc/download"
    shot(phone, "phone-bind-pc-addresses")
