"""Field validation shared by the invoice-profile and address services: one error per field, in Chinese, raised
together so that a form can show each under its field and the API can name them."""

from __future__ import annotations

import re

from wxbackend.core.errors import DomainError

MOBILE = re.compile(r"1[3-9]\d{9}")
EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,24}")
PHONE = re.compile(r"[0-9\-+() ]{5,30}")
# GB 32100-2015 统一社会信用代码: digits and upper-case letters without I, O, Z, S, V; each character's value is its
# index here; the 18th character is the check character.
USCC_CHARACTERS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # 1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28
USCC_SHAPE = re.compile(r"[0-9A-HJ-NP-RTUW-Y]{2}\d{6}[0-9A-HJ-NP-RTUW-Y]{10}")


class InvalidFields(DomainError):
    """Input the user can fix: `errors` maps each wrong field to its message; the message is the first."""

    code = "invalid_fields"

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__(next(iter(errors.values())))


def clean(value: str | None) -> str:
    """Trimmed text, runs of white space (line breaks too: nothing we store spans lines) made one space."""
    return " ".join((value or "").split())


def digits_only(value: str | None) -> str:
    """Spaces and dashes dropped: `138 1234 5678` → `13812345678`."""
    return re.sub(r"[\s\-]", "", value or "")


def check_length(errors: dict[str, str], field: str, value: str, label: str, maximum: int,
                 required: bool = False) -> None:
    if required and not value:
        errors.setdefault(field, f"请填写{label}")
    elif len(value) > maximum:
        errors.setdefault(field, f"{label}最多{maximum}个字")


def check_mobile(errors: dict[str, str], field: str, value: str, required: bool) -> None:
    if not value:
        if required:
            errors.setdefault(field, "请填写手机号码")
    elif not MOBILE.fullmatch(value):
        errors.setdefault(field, "请填写正确的11位手机号码")


def check_email(errors: dict[str, str], field: str, value: str) -> None:
    if not value:
        errors.setdefault(field, "请填写接收电子发票的邮箱")
    elif len(value) > 120 or not EMAIL.fullmatch(value):
        errors.setdefault(field, "邮箱格式不正确，请核对")


def uscc_check_character(first17: str) -> str:
    """The 18th character of a unified social credit code whose first 17 characters are `first17`."""
    total = sum(USCC_CHARACTERS.index(char) * weight for char, weight in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_CHARACTERS[(31 - total % 31) % 31]


def credit_code_problem(value: str) -> str | None:
    """Why `value` is not an 18-character unified social credit code (GB 32100), in Chinese; None when it is."""
    if len(value) != 18:
        return "统一社会信用代码应为18位"
    if not USCC_SHAPE.fullmatch(value):
        return "统一社会信用代码含有无效字符（不使用I、O、Z、S、V），请核对"
    if uscc_check_character(value[:17]) != value[17]:
        return "统一社会信用代码校验位不正确，请核对"
    return None
