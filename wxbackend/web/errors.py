"""The one place that turns errors into responses.

Services raise; views never build error responses themselves. JSON clients (paths under /api/ and
/pc/api/) get `{"code", "message"}`; pages get a friendly Chinese page.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from wxbackend.core import uow
from wxbackend.core.errors import DomainError
from wxbackend.core.validation import InvalidFields

log = logging.getLogger(__name__)


HTTP_MESSAGES = {
    400: "请求无效",
    401: "请先登录",
    403: "无权访问",
    404: "页面不存在",
    405: "不支持的请求方法",
    413: "提交的内容过大",
    428: "此操作需要再次输入动态口令",
    429: "操作过于频繁，请稍后再试",
}


def wants_json() -> bool:
    path = request.path
    return path.startswith("/api/") or path.startswith("/pc/api/")


def error_response(code: str, message: str, status: int):
    if wants_json():
        return jsonify({"code": code, "message": message}), status
    return render_template("error.html", code=code, message=message, status=status), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def handle_domain_error(error: DomainError):
        """A refusal: the unit of work rolls back (keeping the refusal's audit rows), whatever the channel."""
        uow.rollback()
        if isinstance(error, InvalidFields) and wants_json():
            return jsonify({"code": error.code, "message": error.message, "errors": error.errors}), error.status
        return error_response(error.code, error.message, error.status)

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException):
        status = error.code or 500
        if isinstance(error, CSRFError):
            return error_response("csrf_failed", "页面已过期，请刷新后重试", 400)
        messages = (getattr(error, "data", None) or {}).get("messages")
        if status == 422 and messages:  # webargs validation of a JSON API request
            response = jsonify({"code": "invalid_request", "message": "提交的内容有误", "errors": messages})
            return response, 400
        code = (error.name or "error").lower().replace(" ", "_")
        return error_response(code, HTTP_MESSAGES.get(status, "请求无法处理"), status)

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response("internal_error", "系统繁忙，请稍后再试", 500)
