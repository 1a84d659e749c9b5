"""Domain errors: services raise them, and one place (`web.errors`) turns them into responses."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal the user can understand: stable code, Chinese message, HTTP status."""

    code = "bad_request"
    message = "请求无效"
    status = 400

    def __init__(self, message: str | None = None, *, code: str | None = None, status: int | None = None):
        if message is not None:
            self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        super().__init__(f"{self.code}: {self.message}")


class NotFound(DomainError):
    code, message, status = "not_found", "没有找到", 404


class Forbidden(DomainError):
    code, message, status = "forbidden", "无权访问", 403


class Conflict(DomainError):
    code, message, status = "conflict", "状态已变化，请刷新后重试", 409


class UpstreamError(DomainError):
    """An outside service (WeChat, pay, bank, SMTP…) failed or timed out."""

    code, message, status = "upstream_error", "外部服务暂时不可用，请稍后再试", 502
