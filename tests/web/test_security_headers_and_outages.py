"""Issue 18 item 11: a Content-Security-Policy without inline script on every answer, framing refused, the referrer
kept to our origin, HSTS in production only; and while Redis or the database is down, /healthz, the pages and the
JSON routes answer 503 with a Chinese message (JSON: {"code", "message"}), never 500."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis

from tests.conftest import free_port
from wxbackend import create_app
from wxbackend.web.auth import issue_api_token

ROOT = Path(__file__).resolve().parents[2]
PAGES = ("/pc/bind", "/pc/renew", "/pc/download", "/admin/login", "/h5/", "/no-such-page", "/api/certificates",
         "/healthz")


def script_policy(header: str) -> str:
    [script] = [part.strip() for part in header.split(";") if part.strip().startswith("script-src")]
    return script


@pytest.mark.parametrize("path", PAGES)
def test_every_answer_carries_the_policy_headers(client, app, path):
    response = client.get(path)
    policy = response.headers["Content-Security-Policy"]
    assert script_policy(policy) == "script-src 'self'"  # no 'unsafe-inline', no 'unsafe-eval'
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert f"http://127.0.0.1:{app.config['HELPER_PORT']}" in policy  # the PC pages talk to the key helper
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers  # not outside production


def test_hsts_in_production(client, app):
    kept = app.config["APP_ENV"]
    app.config["APP_ENV"] = "production"
    try:
        response = client.get("/pc/bind")
    finally:
        app.config["APP_ENV"] = kept
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\b(src=|type=\"application/json\"))[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)


def test_no_template_has_an_inline_script_or_handler():
    templates = [path for path in ROOT.glob("**/templates/**/*.html") if ".venv" not in path.parts]
    assert len(templates) > 20
    found = [f"{path.relative_to(ROOT)}: {match.group(0)}" for path in templates
             for match in (*INLINE_SCRIPT.finditer(path.read_text()), *INLINE_HANDLER.finditer(path.read_text()))]
    assert found == []


def test_the_pc_pages_settings_are_data_not_script(client, app):
    page = client.get("/pc/renew?order=R123").text
    assert '<script type="application/json" id="cagj-config">' in page and '"order": "R123"' in page
    assert f'"helper": "http://127.0.0.1:{app.config["HELPER_PORT"]}"' in page


# ------------------------------------------------------------------------------------------------ outages


@pytest.fixture
def throwaway_redis(tmp_path):
    """A redis-server of this test's own on a free port, to stop while the app uses it."""
    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    process = subprocess.Popen([server, "--port", str(port), "--save", "", "--appendonly", "no",
                                "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    yield process, url
    if process.poll() is None:
        process.kill()
    process.wait()


def closed_port() -> int:
    return free_port()  # nothing listens there


def assert_unavailable_page(response) -> None:
    assert response.status_code == 503, (response.status_code, response.data[:300])
    assert "服务暂时不可用" in response.text and "Traceback" not in response.text


def assert_unavailable_json(response) -> None:
    assert response.status_code == 503, (response.status_code, response.data[:300])
    assert response.json["code"] == "service_unavailable" and "服务暂时不可用" in response.json["message"]


def test_redis_stopped_gives_503_with_a_chinese_message(app_config, throwaway_redis):
    process, url = throwaway_redis
    down = create_app({**app_config, "REDIS_URL": url})
    client = down.test_client()
    assert client.get("/healthz").status_code == 200
    process.kill()
    process.wait()
    health = client.get("/healthz")
    assert_unavailable_json(health)
    assert health.json["down"] == ["redis"] and "Redis" in health.json["message"]
    assert_unavailable_json(client.get("/pc/api/bind/sessions/abc", headers={"X-PC-Token": "t" * 32}))
    assert_unavailable_page(client.post("/admin/login", data={"username": "x", "password": "y"}))


def test_database_unreachable_gives_503_with_a_chinese_message(app_config):
    down = create_app({**app_config, "DATABASE_URL": f"postgresql+psycopg://cagj@127.0.0.1:{closed_port()}/cagj"})
    client = down.test_client()
    health = client.get("/healthz")
    assert_unavailable_json(health)
    assert health.json["down"] == ["database"] and "数据库" in health.json["message"]
    with client.session_transaction() as session:
        session["user_id"] = 1
    assert_unavailable_page(client.get("/h5/certificates"))
    with down.app_context():
        token, _ = issue_api_token(1)
    assert_unavailable_json(down.test_client().get("/api/certificates", headers={"Authorization": f"Bearer {token}"}))
