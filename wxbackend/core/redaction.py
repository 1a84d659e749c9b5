"""Masking what a person may type into free text (a reason, a note, a message) before it is kept outside the
place made for it: ID numbers and 18-character codes (身份证号, 统一社会信用代码), mobile numbers, 6–8 digit codes
(binding codes, transfer codes, PINs) and longer digit runs (bank accounts)."""

from __future__ import annotations

import re
from typing import Any

from wxbackend.core.crypto import mask_bank_account, mask_id_number, mask_mobile

# a run of letters and digits standing alone (not part of a longer word or number)
_TOKEN = re.compile(r"(?<![0-9A-Za-z])[0-9A-Za-z]{6,40}(?![0-9A-Za-z])")
_ID_18 = re.compile(r"[0-9A-Z]{17}[0-9A-Z]", re.IGNORECASE)
_MOBILE = re.compile(r"1[3-9]\d{9}")


def _mask(token: str) -> str:
    digits = sum(ch.isdigit() for ch in token)
    if len(token) == 18 and _ID_18.fullmatch(token) and digits >= 8:
        return mask_id_number(token)
    if not token.isdigit():
        return token
    if _MOBILE.fullmatch(token):
        return mask_mobile(token)
    if len(token) in (15, 18):
        return mask_id_number(token)
    if len(token) <= 8:
        return "*" * len(token)
    return mask_bank_account(token)


def redact_text(text: str) -> str:
    """`text` with ID numbers, 18-character codes, mobiles, 6–8 digit codes and account numbers masked."""
    return _TOKEN.sub(lambda found: _mask(found.group(0)), text)


def redact_values(value: Any) -> Any:
    """`redact_text` applied to every string inside `value` (dicts and lists walked)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redact_values(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_values(item) for item in value]
    return value
