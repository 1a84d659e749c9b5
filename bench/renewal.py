"""Benchmark of 实时制证: a whole renewal through the real helper and the backend over HTTP on SoftHSM2, against
the raw PKCS#11 operations it needs (log in, key pair generation, CSR signature, challenge signature,
certificate write) measured in the same run on the same token.

    .venv/bin/python bench/renewal.py [--rounds 8] [--keys 3]

Each round renews the key's current certificate once (a new paid order for it, then start → keygen → issue →
install → confirm → cleanup), so the token ends each round as a customer's key would. Prints the medians and
the overhead ratio. Needs Redis (db 14 is used) and SoftHSM2.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "12345678"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup(tmp: Path):
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    from wxbackend import create_app
    from wxbackend.ca.service import init_ca
    from wxbackend.core.db import db
    from wxbackend.demo.service import make_demo_key

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    conf = tmp / "softhsm" / "softhsm2.conf"
    os.environ["SOFTHSM2_CONF"] = str(conf)
    app = create_app({"APP_ENV": "development", "DATABASE_URL": f"sqlite:///{tmp}/bench.db", "REDIS_URL": REDIS_URL,
                      "CA_DIR": str(tmp / "ca"), "SOFTHSM2_CONF": str(conf), "PUBLIC_BASE_URL": base,
                      "HELPER_ALLOWED_ORIGINS": [base], "NOTICES_ADAPTER": "log", "LOG_LEVEL": "WARNING",
                      "RENEW_WINDOW_DAYS": 100_000,  # every round renews the certificate the last one wrote
                      "TICKET_SIGNING_KEY": base64.b64encode(secrets.token_bytes(32)).decode()})
    with app.app_context():
        upgrade()
        init_ca(app.config)
        key = make_demo_key(organisation="广州某某科技有限公司", expires_in_days=30)
        db.session.commit()
        from wxbackend.tickets.service import public_key_b64

        ticket_key = public_key_b64()
        token_serial = key.serial
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    helper_port = free_port()
    helper = subprocess.Popen([sys.executable, "-m", "ukey_helper"], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL,
                              env={**os.environ, "SOFTHSM2_CONF": str(conf), "PKCS11_MODULE": MODULE,
                                   "HELPER_PORT": str(helper_port), "HELPER_ALLOWED_ORIGINS": base,
                                   "HELPER_TICKET_PUBLIC_KEYS": ticket_key})
    helper_url = f"http://127.0.0.1:{helper_port}"
    for _ in range(100):
        try:
            requests.get(helper_url + "/v1/health", headers={"Origin": base}, timeout=1)
            break
        except requests.RequestException:
            time.sleep(0.1)
    return app, server, helper, base, helper_url, token_serial


def new_paid_order(app, openid: str = "oBENCHOPERATOR") -> None:
    """The key's operator (verified, bound to the key's certificate since the first round: renewal carries the
    binding over) pays a new renewal order for the key's current certificate."""
    import sqlalchemy as sa

    from wxbackend.agreements.service import SERVICE_AGREEMENT
    from wxbackend.certificates.models import Binding, BindingStatus, Certificate
    from wxbackend.core.db import db
    from wxbackend.orders.service import create_order, mark_paid
    from wxbackend.users.models import User

    with app.app_context():
        current = db.session.scalar(sa.select(Certificate).where(Certificate.status == "valid")
                                    .order_by(Certificate.id.desc()).limit(1))
        user = db.session.scalar(sa.select(User).where(User.openid == openid))
        if user is None:
            user = User(openid=openid, identity_verified=True)
            db.session.add(user)
            db.session.flush()
        bound = db.session.scalar(sa.select(Binding.id).where(Binding.user_id == user.id,
                                                              Binding.certificate_id == current.id,
                                                              Binding.status == BindingStatus.ACTIVE))
        if bound is None:
            db.session.add(Binding(user_id=user.id, certificate_id=current.id))
        order = create_order(user.id, current.id, 1, agreement_version=SERVICE_AGREEMENT.version)
        mark_paid(order.id, "wechat", "bench")
        db.session.commit()


STEPS = ("helper token", "backend start", "helper keygen", "backend issue", "helper install", "backend confirm",
         "helper cleanup")


def renew_once(base: str, helper_url: str, steps: dict[str, list[float]]) -> float:
    """One whole renewal as the PC page does it; seconds. Each step's time (ms) is added to `steps`."""
    origin = {"Origin": base}
    marks = [time.perf_counter()]

    def step_done():
        marks.append(time.perf_counter())

    token = requests.get(helper_url + "/v1/token", headers=origin, timeout=30).json()
    step_done()
    current = next(c for c in token["certificates"])
    step = requests.post(base + "/pc/api/renew/start", timeout=30, json={
        "certificate": current["pem"], "key_ids": token["key_ids"]}).json()
    step_done()
    made = requests.post(helper_url + "/v1/keygen", headers=origin, timeout=60,
                         json={"ticket": step["ticket"], "pin": PIN}).json()
    step_done()
    issued = requests.post(base + "/pc/api/renew/issue", timeout=30, json={
        "ticket_id": step["ticket_id"], "old_signature": made["old_signature"], "csr": made["csr"]}).json()
    step_done()
    written = requests.post(helper_url + "/v1/install", headers=origin, timeout=60, json={
        "ticket": issued["ticket"], "certificate": issued["certificate_pem"], "chain": issued["chain_pem"]}).json()
    step_done()
    done = requests.post(base + "/pc/api/renew/confirm", timeout=30, json={
        "ticket_id": issued["ticket_id"], "signature": written["signature"]}).json()
    step_done()
    cleaned = requests.post(helper_url + "/v1/cleanup", headers=origin, timeout=60,
                            json={"ticket": done["cleanup_ticket"]})
    step_done()
    elapsed = marks[-1] - marks[0]
    for name, begin, end in zip(STEPS, marks[:-1], marks[1:], strict=True):
        steps.setdefault(name, []).append((end - begin) * 1000)
    if cleaned.status_code != 200:
        raise RuntimeError(f"renewal failed: {cleaned.text}")
    return elapsed


def raw_once(token_serial: str) -> float:
    """The PKCS#11 work a renewal needs, done directly: log in, key pair, CSR, challenge signature, write."""
    import pkcs11
    from cryptography import x509
    from pkcs11 import Attribute, ObjectClass

    from ukey_helper.token import build_csr, generate_key_pair, rsa_public_key, sign, write_certificate

    lib = pkcs11.lib(MODULE)
    lib.reinitialize()
    token = next(t for t in (s.get_token() for s in lib.get_slots(token_present=True))
                 if (t.serial.decode() if isinstance(t.serial, bytes) else t.serial).strip() == token_serial)
    started = time.perf_counter()
    with token.open(rw=True, user_pin=PIN) as session:
        cka_id, pub, priv = generate_key_pair(session, "bench-raw")
        build_csr(rsa_public_key(pub), priv, "bench")
        sign(priv, secrets.token_bytes(32))
        der = next(session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE}))[Attribute.VALUE]
        written = write_certificate(session, x509.load_der_x509_certificate(der), cka_id, "bench-raw")
        elapsed = time.perf_counter() - started
        for obj in (written, pub, priv):  # leave the token as it was
            obj.destroy()
    return elapsed


def run_key(rounds: int, whole: list[float], raw: list[float], steps: dict[str, list[float]]) -> None:
    """`rounds` renewals of one fresh demo key (each adds a year: a key can be renewed about 9 times before its
    certificate would outlast the issuing CA's), each followed by the raw PKCS#11 work on the same token."""
    r = redis.Redis.from_url(REDIS_URL)
    r.flushdb()
    tmp = Path(tempfile.mkdtemp(prefix="bench-renewal-"))
    app, server, helper, base, helper_url, token_serial = setup(tmp)
    try:
        for _ in range(rounds):  # interleaved, so drift on a noisy machine hits both alike
            new_paid_order(app)
            whole.append(renew_once(base, helper_url, steps))
            raw.append(raw_once(token_serial))
    finally:
        helper.terminate()
        helper.wait(timeout=10)
        server.shutdown()
        r.flushdb()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=8, help="renewals per key (at most 9)")
    parser.add_argument("--keys", type=int, default=3, help="fresh keys (and backends) in turn")
    args = parser.parse_args()
    whole, raw, steps = [], [], {}
    for _ in range(args.keys):
        run_key(min(args.rounds, 9), whole, raw, steps)
    whole_median, raw_median = statistics.median(whole), statistics.median(raw)
    load1, load5, _ = os.getloadavg()
    print(f"{len(whole)} rounds ({args.keys} keys) on SoftHSM2 (RSA 2048); load average {load1:.1f} / {load5:.1f}"
          f" on {os.cpu_count()} CPUs")
    print(f"whole renewal (helper + backend over HTTP): median {whole_median * 1000:8.1f} ms")
    print(f"raw PKCS#11 (login, keygen, CSR, sign, write): median {raw_median * 1000:8.1f} ms")
    print(f"overhead ratio (whole / raw): {whole_median / raw_median:.2f}")
    print("steps of the whole renewal, median ms: " + ", ".join(
        f"{name} {statistics.median(steps[name]):.1f}" for name in STEPS))


if __name__ == "__main__":
    main()
