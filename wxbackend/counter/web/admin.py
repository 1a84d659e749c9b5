"""介质制证 in the console (issue 14, DESIGN §11, §15), for 制证: the replacement orders waiting for their new key,
and one order's page, whose script drives the key helper on the staff PC (127.0.0.1) with counter tickets and
carries its answers to the endpoints below (/admin/counter/api/…, JSON, the console's CSRF token in X-CSRFToken).
Starting asks for a fresh TOTP code; every step is audited; the PIN the helper sets reaches this page only sealed
to the backend."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, render_template, request, url_for

from wxbackend.counter import service
from wxbackend.staff.models import Role
from wxbackend.web.console import ConsoleQueue
from wxbackend.web.staff_session import fresh_totp_required, staff_required

bp = Blueprint("counter_admin", __name__, url_prefix="/admin", template_folder="../templates",
               static_folder="../static/counter", static_url_path="/static/counter")
ROLES = (Role.MAKER,)
QUEUES = (ConsoleQueue("介质制证", "counter_admin.queue", ROLES, count=service.waiting_count),)
NO_STORE = {"Cache-Control": "no-store"}


def client_ip() -> str:
    return request.remote_addr or ""


def body_field(name: str) -> object:
    body = request.get_json(silent=True)
    return body.get(name) if isinstance(body, dict) else request.form.get(name)


def step_json(step: service.Step):
    return jsonify({"mode": step.mode, "order_id": step.order.id, "ticket": step.ticket, "ticket_id": step.ticket_id,
                    "certificate_pem": step.certificate_pem, "chain_pem": step.chain_pem,
                    "not_after": step.not_after.isoformat() if step.not_after else None}), 200, NO_STORE


@bp.get("/counter")
@staff_required(*ROLES)
def queue():
    found = service.waiting_orders(request.args.get("after"))
    next_url = url_for("counter_admin.queue", after=found.next_cursor) if found.next_cursor else None
    return render_template("counter/admin_queue.html", rows=found.rows, next_url=next_url)


@bp.get("/counter/<int:order_id>")
@staff_required(*ROLES)
def order_page(order_id: int):
    order = service.replacement_order(order_id)
    attempt = service.latest_attempt(order.id)
    settings = {"helper": f"http://127.0.0.1:{current_app.config['HELPER_PORT']}", "order_id": order.id,
                "start": url_for("counter_admin.start", order_id=order.id), "issue": url_for("counter_admin.issue"),
                "confirm": url_for("counter_admin.confirm")}
    return render_template("counter/admin_order.html", order=order, attempt=attempt,
                           delivery=service.delivery_of(attempt), settings=settings,
                           policy=current_app.config["REPLACEMENT_VALIDITY"]), 200, NO_STORE


@bp.post("/counter/api/<int:order_id>/start")
@staff_required(*ROLES)
@fresh_totp_required
def start(order_id: int):
    """The blank key's serial (as the helper reads it) → a `counter_keygen` ticket."""
    return step_json(service.start(g.staff.id, order_id, body_field("token_serial"), client_ip()))


@bp.post("/counter/api/issue")
@staff_required(*ROLES)
def issue():
    """The helper's CSR → the certificate, its chain and a `counter_install` ticket."""
    return step_json(service.issue(g.staff.id, body_field("ticket_id"), body_field("csr"), client_ip()))


@bp.post("/counter/api/confirm")
@staff_required(*ROLES)
def confirm():
    """The new key's signature and the sealed PIN → the new certificate on record, the PIN's delivery queued."""
    attempt = service.confirm(g.staff.id, body_field("ticket_id"), body_field("signature"), body_field("sealed_pin"),
                              client_ip())
    delivery = service.delivery_of(attempt)
    return jsonify({"serial": attempt.new_certificate.serial, "medium_number": attempt.token_serial,
                    "not_after": attempt.new_certificate.not_after.isoformat(),
                    "delivery": {"channel": delivery.channel, "recipient": delivery.recipient_masked}}), 200, NO_STORE
