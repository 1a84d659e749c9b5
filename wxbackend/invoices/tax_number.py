"""Taxpayer numbers on invoice titles (税号): the 18-character unified social credit code of GB 32100-2015 with its
check character, or the older 15- and 20-character taxpayer identification numbers."""

from __future__ import annotations

import re

from wxbackend.core.validation import USCC_CHARACTERS as USCC_CHARACTERS  # re-exported
from wxbackend.core.validation import USCC_SHAPE, uscc_check_character

OLDER_SHAPE = re.compile(r"[0-9A-Z]{15}|[0-9A-Z]{20}")


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
