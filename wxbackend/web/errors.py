"""The one place that turns errors into responses.

Services raise; views never build error responses themselves. JSON clients (paths under /api/ and
/pc/api/) get `{"code", "message"}`; pages get a friendly Chinese page.
"""

from __future__ import annotations

import logging
import re

import redis
import sqlalchemy.exc
from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from wxbackend.core import uow
from wxbackend.core.errors import DomainError
from wxbackend.core.validation import InvalidFields

log = logging.getLogger(__name__)


# marshmallow's messages (API input errors), in Chinese: every message a user can see is Chinese.
FIELD_MESSAGES = [
    (r"Missing data for required field\.", "必填"),
    (r"Unknown field\.", "不支持的字段"),
    (r"Field may not be null\.", "不能为空"),
    (r"Not a valid integer\.", "应为整数"),
    (r"Not a valid number\.", "应为数字"),
    (r"Number too large\.", "数值过大"),
    (r"Not a valid string\.", "应为文本"),
    (r"Not a valid utf-8 string\.", "应为UTF-8文本"),
    (r"Not a valid boolean\.", "应为 true 或 false"),
    (r"Not a valid (aware |naive )?datetime\.", "应为日期时间（ISO 8601）"),
    (r"Not a valid date\.", "应为日期（YYYY-MM-DD）"),
    (r"Not a valid list\.", "应为列表"),
    (r"Not a valid mapping type\.", "应为对象"),
    (r"Not a valid email address\.", "邮箱格式不正确"),
    (r"Not a valid URL\.", "网址格式不正确"),
    (r"Invalid (input )?type\.", "类型不正确"),
    (r"Invalid value\.", "取值无效"),
    (r"Longer than maximum length (\d+)\.", r"最多\1个字符"),
    (r"Shorter than minimum length (\d+)\.", r"至少\1个字符"),
    (r"Length must be between (\d+) and (\d+)\.", r"长度应为\1至\2个字符"),
    (r"Length must be (\d+)\.", r"长度应为\1个字符"),
    (r"Must be greater than or equal to (\S+) and less than or equal to (\S+)\.", r"应在\1至\2之间"),
    (r"Must be greater than or equal to (\S+)\.", r"应不小于\1"),
    (r"Must be less than or equal to (\S+)\.", r"应不大于\1"),
    (r"Must be greater than (\S+)\.", r"应大于\1"),
    (r"Must be less than (\S+)\.", r"应小于\1"),
    (r"Must be one of: (.*)\.", r"应为以下之一：\1"),
]


def chinese(messages):
    """webargs/marshmallow error messages (nested dicts and lists of English strings) in Chinese."""
    if isinstance(messages, dict):
        return {key: chinese(value) for key, value in messages.items()}
    if isinstance(messages, list | tuple):
        return [chinese(value) for value in messages]
    if isinstance(messages, str):
        for pattern, replacement in FIELD_MESSAGES:
            if re.fullmatch(pattern, messages):
                return re.sub(pattern, replacement, messages)
        return messages if re.search(r"[\u4e00-\u9fff]", messages) else "格式不正确"
    return messages


def field_errors(messages) -> dict[str, str]:
    """webargs' messages ({location: {field: [message, …] or nested}}) as the one shape every 400 has: field (a
    dotted path for a nested one, `_schema` for the whole body) → its messages in Chinese."""
    flat: dict[str, str] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list | tuple) and all(isinstance(inner, str) for inner in value):
            flat[prefix or "_schema"] = "；".join(chinese(inner) for inner in value)
        elif isinstance(value, list | tuple):
            for index, inner in enumerate(value):
                walk(f"{prefix}.{index}" if prefix else str(index), inner)
        else:
            flat[prefix or "_schema"] = chinese(str(value))

    for errors in messages.values() if isinstance(messages, dict) else [messages]:
        walk("", errors)  # the location (json, query, headers…) is not the client's concern
    return flat


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
    """The JSON APIs: /api/, the PC pages' /pc/api/ and the console pages' own endpoints (/admin/<room>/api/)."""
    path = request.path
    return path.startswith(("/api/", "/pc/api/")) or (path.startswith("/admin/") and "/api/" in path)


def error_response(code: str, message: str, status: int):
    if wants_json():
        return jsonify({"code": code, "message": message}), status
    return render_template("error.html", code=code, message=message, status=status), status


# Redis or the database unreachable (refused, timed out, connection lost): the service is down for a while, not
# broken, and says so with a 503.
OUTAGES = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, sqlalchemy.exc.OperationalError,
           sqlalchemy.exc.InterfaceError)
OUTAGE_MESSAGE = "服务暂时不可用，请稍后再试"


def outage_behind(error: BaseException | None) -> BaseException | None:
    """The Redis or database outage that caused `error` (itself, its cause or context chain), if any."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, OUTAGES) or (isinstance(error, sqlalchemy.exc.DBAPIError)
                                          and error.connection_invalidated):
            return error
        error = getattr(error, "original_exception", None) or error.__cause__ or error.__context__
        seen += 1
    return None


def outage_response(error: BaseException):
    log.error("%s %s: service unavailable (%s: %s)", request.method, request.path, type(error).__name__,
              str(error).splitlines()[0][:200] if str(error) else "")
    try:
        uow.rollback()
    except Exception:  # the database is what is down
        log.debug("rollback during an outage failed", exc_info=True)
    response = error_response("service_unavailable", OUTAGE_MESSAGE, 503)
    if isinstance(response, tuple):
        body, status = response
        return body, status, {"Retry-After": "30"}
    return response


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
        outage = outage_behind(error) if status == 500 else None
        if outage is not None:  # raised where Flask answers 500 itself (an after_request hook: the commit)
            return outage_response(outage)
        if isinstance(error, CSRFError):
            return error_response("csrf_failed", "页面已过期，请刷新后重试", 400)
        messages = (getattr(error, "data", None) or {}).get("messages")
        if status == 422 and messages:  # webargs validation of a JSON API request
            response = jsonify({"code": "invalid_request", "message": "提交的内容有误",
                                "errors": field_errors(messages)})
            return response, 400
        code = (error.name or "error").lower().replace(" ", "_")
        return error_response(code, HTTP_MESSAGES.get(status, "请求无法处理"), status)

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        outage = outage_behind(error)
        if outage is not None:
            return outage_response(outage)
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response("internal_error", "系统繁忙，请稍后再试", 500)
