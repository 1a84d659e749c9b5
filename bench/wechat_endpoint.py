"""Benchmark of `/wechat`: throughput and p50/p99 latency for a safe-mode text message and a CLICK event,
against a bare Flask endpoint answering `success` on the same server setup, measured in the same run.

    .venv/bin/python bench/wechat_endpoint.py [--requests 2000] [--clients 8] [--runs 3]

Both apps run under gunicorn (1 worker, gthread, 8 threads) on 127.0.0.1; every request is a distinct message
(its own MsgId / CreateTime) correctly signed, built before timing starts. Then ours again at half the bare app's
throughput, paced, for its latency under a load it can carry. Needs Redis (db 14 is used).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import wechat as wx  # noqa: E402  (signing and encryption exactly as WeChat does)

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
BARE_APP = '''
from flask import Flask, request
app = Flask("bare")

@app.post("/wechat")
def wechat():
    request.get_data()
    return "success"
'''


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(app_spec: str, env: dict, cwd: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = tempfile.TemporaryFile()
    process = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "-w", "1", "-k", "gthread", "--threads", "8",
                                "-b", f"127.0.0.1:{port}", "--log-level", "warning", app_spec],
                               cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            requests.get(url + "/healthz", timeout=5, allow_redirects=False)
            return process, url
        except requests.RequestException:
            time.sleep(0.1)
    process.kill()
    log.seek(0)
    raise RuntimeError(f"{app_spec} did not start: {log.read().decode()[-2000:]}")


def safe_text_requests(n: int, offset: int) -> list[tuple[str, bytes]]:
    out = []
    for i in range(n):
        ts = int(time.time())
        xml = wx.text_xml("续期", msg_id=offset + i, openid=f"oBENCH{i % 50}", create_time=ts)
        envelope = wx.crypto().encrypt_message(xml, f"nonce{i}", str(ts))
        msg_signature = envelope.split("<MsgSignature><![CDATA[")[1].split("]")[0]
        query = wx.signed_query(ts, nonce=f"nonce{i}", encrypt_type="aes", msg_signature=msg_signature)
        out.append(("/wechat?" + urlencode(query), envelope.encode()))
    return out


def click_requests(n: int, offset: int) -> list[tuple[str, bytes]]:
    out = []
    for i in range(n):
        ts = int(time.time()) - (offset + i) % 200  # distinct FromUserName+CreateTime pairs
        xml = wx.event_xml("CLICK", "RENEW_GUIDE", openid=f"oBENCH{offset + i}", create_time=ts)
        query, envelope = wx.safe_push(xml, timestamp=ts)  # safe mode: plaintext is refused with an AES key set
        out.append(("/wechat?" + urlencode(query), envelope))
    return out


def load(url: str, bodies: list[tuple[str, bytes]], clients: int,
         rate: float | None = None) -> tuple[float, list[float]]:
    """Requests per second and every latency (ms), `clients` keep-alive connections sharing the work; with `rate`,
    the clients together send `rate` requests per second on a fixed schedule (latency counted from when each
    request was due, so a stalled server shows), otherwise as fast as they can."""
    latencies: list[float] = []
    lock = threading.Lock()
    chunks = [bodies[i::clients] for i in range(clients)]
    errors: list[str] = []
    started = time.perf_counter()

    def run(index, chunk):
        session = requests.Session()
        mine = []
        for n, (path, body) in enumerate(chunk):
            due = None
            if rate:
                due = started + (n * clients + index) / rate
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
            t0 = time.perf_counter()
            response = session.post(url + path, data=body, headers={"Content-Type": "text/xml"}, timeout=10)
            mine.append((time.perf_counter() - (max(due, t0) if due else t0)) * 1000)
            if response.status_code != 200:
                errors.append(f"{response.status_code} {response.text[:100]}")
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=run, args=(index, chunk)) for index, chunk in enumerate(chunks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, first: {errors[0]}")
    return len(bodies) / elapsed, latencies


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100)[int(p) - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    r = redis.Redis.from_url(REDIS_URL)
    r.flushdb()
    tmp = Path(tempfile.mkdtemp(prefix="bench-wechat-"))
    (tmp / "bare_app.py").write_text(BARE_APP)
    env = {**os.environ, "APP_ENV": "testing", "REDIS_URL": REDIS_URL, "DATABASE_URL": f"sqlite:///{tmp}/b.db",
           "WECHAT_APP_ID": wx.APP_ID, "WECHAT_APP_SECRET": wx.APP_SECRET, "WECHAT_TOKEN": wx.TOKEN,
           "WECHAT_AES_KEY": wx.AES_KEY, "LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
    ours, ours_url = start("wxbackend:create_app()", env, ROOT)
    bare, bare_url = start("bare_app:app", env, tmp)
    try:
        n = args.requests
        scenarios = [("safe-mode text", safe_text_requests), ("CLICK event", click_requests)]
        load1, load5, _ = os.getloadavg()
        print(f"{n} requests per run, {args.clients} concurrent clients, gunicorn 1 worker x 8 threads; "
              f"load average {load1:.1f} / {load5:.1f} on {os.cpu_count()} CPUs\n")
        summary: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in scenarios}
        for run in range(args.runs):
            print(f"run {run + 1}")
            print(f"{'scenario':<16}{'server':<8}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
            for index, (name, build) in enumerate(scenarios):
                base = 100_000_000 * run + 10_000_000 * (index + 1)
                warm = build(100, base)
                load(ours_url, warm, args.clients)
                load(bare_url, warm, args.clients)
                bodies = build(n, base + 1_000_000)
                bare_rps, bare_lat = load(bare_url, bodies, args.clients)
                ours_rps, ours_lat = load(ours_url, bodies, args.clients)
                for server, rps, lat in (("bare", bare_rps, bare_lat), ("ours", ours_rps, ours_lat)):
                    print(f"{name:<16}{server:<8}{rps:>10.0f}{pct(lat, 50):>10.2f}{pct(lat, 99):>10.2f}")
                print(f"{name:<16}{'ratio':<8}{ours_rps / bare_rps:>10.2f}"
                      f"{pct(ours_lat, 50) / pct(bare_lat, 50):>10.2f}{pct(ours_lat, 99) / pct(bare_lat, 99):>10.2f}"
                      f"   (ours / bare)")
                paced = build(n // 2, base + 2_000_000)
                _, paced_lat = load(ours_url, paced, args.clients, rate=bare_rps / 2)
                print(f"{name:<16}{'ours at':<8}{bare_rps / 2:>10.0f}{pct(paced_lat, 50):>10.2f}"
                      f"{pct(paced_lat, 99):>10.2f}   (half the bare app's req/s, paced; target p99 ≤ 20 ms)\n")
                summary[name].append((ours_rps / bare_rps, pct(paced_lat, 99)))
        for name, results in summary.items():
            ratios = [ratio for ratio, _ in results]
            print(f"{name}: throughput ratio median {statistics.median(ratios):.2f} of "
                  f"{', '.join(f'{r:.2f}' for r in ratios)} (target ≥ 0.7); p99 at half the bare throughput median "
                  f"{statistics.median(p99 for _, p99 in results):.1f} ms (target ≤ 20 ms)")
    finally:
        for process in (ours, bare):
            process.terminate()
            process.wait(timeout=10)
        r.flushdb()


if __name__ == "__main__":
    main()
