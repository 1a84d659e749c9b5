"""Taxpayer numbers on invoice titles (税号): the 18-character unified social credit code of GB 32100-2015 with its
check character, or the older 15- and 20-character taxpayer identification numbers."""

from __future__ import annotations

import re

# GB 32100-2015: digits and upper-case letters without I, O, Z, S, V; each character's value is its index here.
USCC_CHARACTERS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # 1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28
USCC_SHAPE = re.compile(r"[0-9A-HJ-NP-RTUW-Y]{2}\d{6}[0-9A-HJ-NP-RTUW-Y]{10}")
OLDER_SHAPE = re.compile(r"[0-9A-Z]{15}|[0-9A-Z]{20}")


def uscc_check_character(first17: str) -> str:
    """The 18th character of a unified social credit code whose first 17 characters are `first17`."""
    total = sum(USCC_CHARACTERS.index(char) * weight for char, weight in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_CHARACTERS[(31 - total % 31) % 31]


def normalise_tax_number(value: str) -> str:
    """Upper case, without spaces (people paste `9144 0300 …`)."""
    return "".join(value.split()).upper()


def tax_number_problem(value: str) -> str | None:
    """Why `value` (normalised) is not a taxpayer number, in Chinese; None when it is one."""
    if len(value) == 18:
        if not USCC_SHAPE.fullmatch(value):
            return "统一社会信用代码含有无效字符（不使用I、O、Z、S、V），请核对"
        if uscc_check_character(value[:17]) != value[17]:
            return "统一社会信用代码校验位不正确，请核对"
        return None
    if len(value) in (15, 20):
        return None if OLDER_SHAPE.fullmatch(value) else "税号只能由数字和大写字母组成"
    return "税号应为18位统一社会信用代码（或15位、20位的旧税号）"
