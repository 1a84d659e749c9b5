"""/api/docs in headless Chromium: Swagger UI, from swagger-ui-dist files our app serves (nothing from another
host), under our CSP without a violation, lists the API's operations and the bearer authorisation (issue 15)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.support.live import shot

pytestmark = pytest.mark.browser


def test_the_docs_page_lists_the_operations_from_local_assets(live_app, browser):
    base = live_app.base_url
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requested, violations = [], []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda message: "Content Security Policy" in message.text and violations.append(message.text))
    response = page.goto(f"{base}/api/docs")
    assert response.status == 200 and "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector(".opblock", timeout=20000)
    text = page.text_content("#swagger-ui")
    assert "数安CA管家 API" in text
    summaries = page.eval_on_selector_all(".opblock-summary-path", "nodes => nodes.map(n => n.textContent.trim())")
    for path in ("/api/orders", "/api/orders/{order_id}/transfer", "/api/orders/{order_id}/refund",
                 "/api/orders/{order_id}/cancel", "/api/certificates", "/api/auth/mini-program"):
        assert any(summary.replace("\u200b", "") == path for summary in summaries), path
    assert len(summaries) >= 45
    assert page.is_visible(".btn.authorize")  # the bearer scheme: 授权 with the mini-program's token
    page.evaluate("""() => [...document.querySelectorAll('.opblock-get')].find(block =>
      block.querySelector('.opblock-summary-path').textContent.replace(/\u200b/g, '').trim() ===
        '/api/orders/{order_id}/transfer').querySelector('.opblock-summary-control').click()""")
    page.wait_for_selector(".opblock.is-open .responses-table")
    shown = page.text_content(".opblock.is-open .responses-table")
    assert "404" in shown and "401" in shown and "503" in shown
    shot(page, "api-docs")
    assert violations == []
    hosts = {urlsplit(url).netloc for url in requested if not url.startswith("data:")}
    assert hosts == {urlsplit(base).netloc}, hosts  # every file from our own server, never a CDN
    assert any(url.endswith("/api/docs/assets/swagger-ui-bundle.js") for url in requested)
    assert any(url.endswith("/api/openapi.json") for url in requested)
