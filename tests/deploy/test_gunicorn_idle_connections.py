"""Issue 18 item 10: the backend as `make run` starts it (gunicorn with deploy/gunicorn.conf.py) keeps answering
/wechat within WeChat's 5 s while idle connections are open to it; its access log holds no query string."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests

from tests.conftest import free_port
from tests.support.wechat import event_xml, safe_push

ROOT = Path(__file__).resolve().parents[2]
IDLE = 12  # three times what stalled the two sync workers for over 40 s
WECHAT_DEADLINE = 5.0


def env_of(config: dict) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("WECHAT_", "DATABASE_", "REDIS_"))}
    for key, value in config.items():
        env[key] = ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
    return env


def gunicorn_command() -> list[str]:
    """The backend's command line in scripts/run.sh, with this test's port and log."""
    run_sh = (ROOT / "scripts" / "run.sh").read_text()
    assert '"$VENV/bin/gunicorn" -c deploy/gunicorn.conf.py' in run_sh
    return [str(Path(sys.executable).parent / "gunicorn"), "-c", "deploy/gunicorn.conf.py"]


@pytest.fixture
def served(app, app_config, tmp_path):
    """gunicorn as `make run` starts it, on a free port, logging its access lines to a file of the test's own."""
    port = free_port()
    log = tmp_path / "access.log"
    command = gunicorn_command() + ["-b", f"127.0.0.1:{port}", "--access-logfile", str(log),
                                    "wxbackend:create_app()"]
    env = env_of({**app_config, "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"})
    with open(tmp_path / "backend.log", "w") as errors:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=errors)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # the workers import the app first (a few seconds on a busy machine)
            try:
                if requests.get(base + "/healthz", timeout=10).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if process.poll() is not None:
                pytest.fail("gunicorn stopped: " + (tmp_path / "backend.log").read_text()[-2000:])
            time.sleep(0.1)
        else:
            pytest.fail("gunicorn did not answer /healthz")
        yield base, log
    finally:
        process.send_signal(signal.SIGQUIT)  # quick shutdown: the test has read its log
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def push_click(base: str, key: str, openid: str) -> tuple[float, requests.Response]:
    query, body = safe_push(event_xml("CLICK", key, openid=openid))
    started = time.monotonic()
    response = requests.post(f"{base}/wechat?{urlencode(query)}", data=body, headers={"Content-Type": "text/xml"},
                             timeout=30)
    return time.monotonic() - started, response


def test_wechat_answers_within_5s_while_idle_connections_are_open(served, db_session):
    base, log = served
    host, port = base.removeprefix("http://").split(":")
    idle = [socket.create_connection((host, int(port))) for _ in range(IDLE)]
    slow = [socket.create_connection((host, int(port))) for _ in range(4)]
    for conn in slow:  # a request line started and never finished
        conn.sendall(b"POST /wechat HTTP/1.1\r\nHost: x\r\n")
    try:
        time.sleep(0.5)
        for n in range(4):
            took, response = push_click(base, "FAQ", f"oIDLE{n}")
            assert response.status_code == 200, response.text[:200]
            assert took < WECHAT_DEADLINE, f"/wechat took {took:.1f} s with {IDLE} idle connections open"
            time.sleep(1.5)  # across the 5 s a thread gives an idle connection
        page = requests.get(base + "/pc/bind", timeout=WECHAT_DEADLINE)
        assert page.status_code == 200
    finally:
        for conn in idle + slow:
            conn.close()
    requests.get(base + "/pc/bind?pc_token=secret-token-in-url&qr=qr-secret",
                 headers={"Referer": f"{base}/h5/bind?qr=qr-secret2"}, timeout=5)
    time.sleep(0.5)
    lines = log.read_text()
    assert "POST /wechat HTTP/1.1" in lines and "GET /pc/bind HTTP/1.1" in lines
    for secret in ("signature=", "msg_signature", "nonce=", "timestamp=", "secret-token-in-url", "qr-secret"):
        assert secret not in lines, secret
