"""Steps of the binding protocol as a PC page and a phone perform them, for service and HTTP tests."""

from __future__ import annotations

from dataclasses import dataclass

from rq import SimpleWorker

from tests.conftest import PC_ORIGIN


@dataclass
class PcSession:
    session_id: str
    pc_token: str
    code: str
    last4: str


def read_key(helper) -> dict:
    response = helper.get("/v1/token")
    assert response.status_code == 200, response.text
    return response.json()


def pc_start(client, helper) -> dict:
    cert_pem = read_key(helper)["certificates"][0]["pem"]
    response = client.post("/pc/api/bind/start", json={"certificate": cert_pem})
    assert response.status_code == 200, response.json
    return response.json


def helper_sign(helper, ticket: str, pin: str = "12345678", **extra):
    return helper.request("POST", "/v1/sign", json={"ticket": ticket, "pin": pin, **extra})


def pc_get_code(client, helper, pin: str = "12345678") -> PcSession:
    started = pc_start(client, helper)
    signed = helper_sign(helper, started["ticket"], pin)
    assert signed.status_code == 200, signed.text
    response = client.post("/pc/api/bind/code", json={"ticket_id": started["ticket_id"],
                                                      "signature": signed.json()["signature"]})
    assert response.status_code == 201, response.json
    body = response.json
    return PcSession(body["session_id"], body["pc_token"], body["code"], body["medium_last4"])


def sign_in(client, name: str):
    page = client.get("/h5/dev/sign-in")
    token = page.text.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = client.post("/h5/dev/sign-in", data={"name": name, "csrf_token": token})
    assert response.status_code == 302
    return csrf_token(client)


def csrf_token(client) -> str:
    page = client.get("/h5/")
    return page.text.split('<meta name="csrf-token" content="')[1].split('"')[0]


def phone_claim(client, csrf: str, code: str, last4: str):
    return client.post("/api/binding/claims", json={"code": code, "last4": last4}, headers={"X-CSRFToken": csrf})


def pc_state(client, pc: PcSession) -> dict:
    return client.get(f"/pc/api/bind/sessions/{pc.session_id}?pc_token={pc.pc_token}").json


def pc_confirm(client, pc: PcSession, accept: bool = True):
    return client.post(f"/pc/api/bind/sessions/{pc.session_id}/confirm", json={"pc_token": pc.pc_token,
                                                                                "accept": accept})


def run_jobs():
    from flask import current_app

    from wxbackend.core.jobs import get_queue
    from wxbackend.core.redis import get_redis

    queues = [get_queue(name) for name in current_app.config["RQ_QUEUES"]]
    SimpleWorker(queues, connection=get_redis()).work(burst=True)


def queued_work(queue) -> list[tuple[str, list]]:
    """What the jobs waiting in rq `queue` will do, as (job name, arguments): each carries only the id of its
    outbox row (`core.outbox`), where the job and its arguments are recorded."""
    from wxbackend.core.db import db
    from wxbackend.core.outbox import OutboxEntry

    work = []
    for queued in queue.jobs:
        entry = db.session.get(OutboxEntry, queued.args[0])
        work.append((entry.job, entry.args))
    return work


__all__ = ["PC_ORIGIN"]
