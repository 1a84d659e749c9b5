"""Stable error codes with Chinese messages (DESIGN §7). The codes are `helper_protocol.errors`; the HTTP status
and the message the customer sees are the helper's."""

from __future__ import annotations

from helper_protocol import errors as codes

MESSAGES = {
    codes.TOKEN_ABSENT: (404, "未检测到证书介质，请插入U-KEY"),
    codes.MULTIPLE_TOKENS: (409, "每次只能操作一个数字证书，请拔出其他证书"),
    codes.PIN_INCORRECT: (401, "PIN码错误"),
    codes.PIN_LOCKED: (423, "PIN码已锁定，请联系客服解锁"),
    codes.PIN_FINAL_TRY: (428, "PIN码仅剩最后一次尝试机会，请确认后再试"),
    codes.PIN_ATTEMPTS_EXCEEDED: (429, "PIN码尝试次数过多，请15分钟后再试"),
    codes.TICKET_INVALID: (403, "操作凭证无效，请刷新页面后重试"),
    codes.TICKET_EXPIRED: (403, "操作凭证已过期，请刷新页面后重试"),
    codes.KEY_MISMATCH: (409, "证书与介质中的密钥不匹配"),
    codes.WRITE_FAILED: (500, "写入证书介质失败，请勿拔出介质后重试"),
    codes.CHAIN_INVALID: (400, "证书链校验失败，新证书不是由本CA签发，未写入介质"),
    codes.PIN_REQUIRED: (401, "请输入U-KEY的PIN码"),
    codes.NEW_CERTIFICATE_MISSING: (409, "新证书尚未写入介质，原证书已保留"),
    codes.BUSY: (409, "正在处理另一项介质操作，请稍候"),
    codes.FORBIDDEN_HOST: (403, "请求地址不被允许"),
    codes.FORBIDDEN_ORIGIN: (403, "请求来源不被允许"),
    codes.BAD_REQUEST: (400, "请求无效"),
    codes.INVALID_REQUEST: (400, "请求格式无效（需要 JSON 对象）"),
    codes.NOT_FOUND: (404, "接口不存在"),
    codes.TOKEN_ERROR: (502, "读取证书介质失败，请重新插拔后再试"),
    codes.TOKEN_NOT_BLANK: (409, "该介质不是空白介质（已有证书或密钥），请更换空白介质"),
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
