"""Stable error codes with Chinese messages (DESIGN §7)."""

from __future__ import annotations

MESSAGES = {
    "token_absent": (404, "未检测到证书介质，请插入U-KEY"),
    "multiple_tokens": (409, "每次只能操作一个数字证书，请拔出其他证书"),
    "pin_incorrect": (401, "PIN码错误"),
    "pin_locked": (423, "PIN码已锁定，请联系客服解锁"),
    "pin_final_try": (428, "PIN码仅剩最后一次尝试机会，请确认后再试"),
    "pin_attempts_exceeded": (429, "PIN码尝试次数过多，请15分钟后再试"),
    "ticket_invalid": (403, "操作凭证无效，请刷新页面后重试"),
    "ticket_expired": (403, "操作凭证已过期，请刷新页面后重试"),
    "key_mismatch": (409, "证书与介质中的密钥不匹配"),
    "write_failed": (500, "写入证书介质失败，请勿拔出介质后重试"),
    "chain_invalid": (400, "证书链校验失败，新证书不是由本CA签发，未写入介质"),
    "pin_required": (401, "请输入U-KEY的PIN码"),
    "new_certificate_missing": (409, "新证书尚未写入介质，原证书已保留"),
    "busy": (409, "正在处理另一项介质操作，请稍候"),
    "forbidden_host": (403, "请求地址不被允许"),
    "forbidden_origin": (403, "请求来源不被允许"),
    "bad_request": (400, "请求无效"),
    "not_found": (404, "接口不存在"),
    "token_error": (502, "读取证书介质失败，请重新插拔后再试"),
}


class HelperError(Exception):
    def __init__(self, code: str, message: str | None = None, **extra):
        status, default_message = MESSAGES[code]
        self.code = code
        self.status = status
        self.message = message or default_message
        self.extra = extra
        super().__init__(f"{code}: {self.message}")

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, **self.extra}
