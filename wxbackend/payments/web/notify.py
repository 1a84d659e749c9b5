"""What WeChat Pay POSTs to us: payment and refund notifications (no cookie: CSRF-exempt; the signature is the
credential). Answered in WeChat Pay's format: 204 when taken, 4xx/5xx with `{"code": "FAIL", "message": …}`
when refused, so WeChat Pay sends it again later."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify, request
from werkzeug.exceptions import HTTPException

from wxbackend.core.errors import DomainError
from wxbackend.payments import service

log = logging.getLogger(__name__)
bp = Blueprint("wechatpay", __name__, url_prefix="/pay/wechat")
MAX_NOTIFICATION_BYTES = 64 * 1024


def fail(message: str, status: int):
    return jsonify({"code": "FAIL", "message": message}), status


def notification_body() -> bytes:
    if (request.content_length or 0) > MAX_NOTIFICATION_BYTES:
        raise DomainError("通知过大", code="too_large", status=413)
    return request.get_data(cache=False)


@bp.post("/notify")
def notify():
    """A payment notification (TRANSACTION.SUCCESS)."""
    service.handle_notification(request.headers, notification_body())
    return "", 204


@bp.post("/refund-notify")
def refund_notify():
    """A refund notification (REFUND.SUCCESS / REFUND.ABNORMAL / REFUND.CLOSED)."""
    service.handle_refund_notification(request.headers, notification_body())
    return "", 204


@bp.errorhandler(DomainError)
def refused(error: DomainError):
    return fail(error.message, error.status if 400 <= error.status < 600 else 400)


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException):
    return fail(error.name or "失败", error.code or 500)


@bp.errorhandler(Exception)
def unexpected(error: Exception):
    log.exception("WeChat Pay notification failed on %s", request.path)
    return fail("系统繁忙", 500)
