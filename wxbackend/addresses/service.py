"""我的地址: create, edit, delete, one default. Every function takes the signed-in user's id and sees only that
user's addresses; services flush, the request commits."""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa

from wxbackend.addresses.divisions import division_problems
from wxbackend.addresses.models import Address
from wxbackend.audit.service import record_audit
from wxbackend.core import defaults as user_defaults
from wxbackend.core.crypto import decrypt, encrypt, mask_mobile
from wxbackend.core.db import db
from wxbackend.core.errors import NotFound
from wxbackend.core.validation import InvalidFields, check_length, check_mobile, clean, digits_only

MOBILE_PURPOSE = "mobile"
POSTCODE = re.compile(r"\d{6}")


DEFAULT_RACE_MESSAGE = "默认地址刚刚被修改，请刷新后重试"
@dataclass
class AddressInput:
    """What a form or the API gives. On an update `mobile` None keeps the stored number (pages show it masked)."""

    recipient: str
    province: str
    city: str
    district: str
    detail: str
    postcode: str
    mobile: str | None = ""


def _checked(data: AddressInput) -> dict:
    """Validated, normalised column values; InvalidFields naming every wrong field."""
    errors: dict[str, str] = {}
    values = {"recipient": clean(data.recipient), "province": clean(data.province), "city": clean(data.city),
              "district": clean(data.district), "detail": clean(data.detail), "postcode": clean(data.postcode)}
    check_length(errors, "recipient", values["recipient"], "收件人", 50, required=True)
    check_length(errors, "province", values["province"], "省份", 32, required=True)
    check_length(errors, "city", values["city"], "城市", 32, required=True)
    check_length(errors, "district", values["district"], "区/县", 32, required=True)
    check_length(errors, "detail", values["detail"], "详细地址", 200, required=True)
    if not {"province", "city", "district"} & errors.keys():
        errors.update(division_problems(values["province"], values["city"], values["district"]))
    if values["detail"] and len(values["detail"]) < 4:
        errors.setdefault("detail", "请填写详细地址（街道、门牌号）")
    if not values["postcode"]:
        errors["postcode"] = "请填写邮政编码"
    elif not POSTCODE.fullmatch(values["postcode"]):
        errors["postcode"] = "邮政编码应为6位数字"
    if data.mobile is not None:
        mobile = digits_only(data.mobile)
        check_mobile(errors, "mobile", mobile, required=True)
        if "mobile" not in errors:
            values["mobile_enc"], values["mobile_masked"] = encrypt(mobile, MOBILE_PURPOSE), mask_mobile(mobile)
    if errors:
        raise InvalidFields(errors)
    return values


def user_addresses(user_id: int) -> list[Address]:
    """The user's addresses, the default first."""
    return list(db.session.scalars(sa.select(Address).where(Address.user_id == user_id)
                                   .order_by(Address.is_default.desc(), Address.id.desc())))


def user_address(user_id: int, address_id: int) -> Address:
    """One of the user's own addresses; NotFound for anyone else's."""
    address = db.session.scalar(sa.select(Address).where(Address.id == address_id, Address.user_id == user_id))
    if address is None:
        raise NotFound("没有找到该地址")
    return address


def default_address(user_id: int) -> Address | None:
    return db.session.scalar(sa.select(Address).where(Address.user_id == user_id, Address.is_default.is_(True)))


def create_address(user_id: int, data: AddressInput, make_default: bool = False) -> Address:
    """A new address (the user's first one is the default). InvalidFields names each wrong field."""
    if data.mobile is None:
        data.mobile = ""
    address = Address(user_id=user_id, **_checked(data))
    db.session.add(address)
    db.session.flush()
    if make_default or default_address(user_id) is None:
        user_defaults.make_default(address, DEFAULT_RACE_MESSAGE)
    record_audit(f"user:{user_id}", "address.create", target=f"address:{address.id}")
    return address


def update_address(user_id: int, address_id: int, data: AddressInput, make_default: bool = False) -> Address:
    address = user_address(user_id, address_id)
    for key, value in _checked(data).items():
        setattr(address, key, value)
    db.session.flush()
    if make_default and not address.is_default:
        user_defaults.make_default(address, DEFAULT_RACE_MESSAGE)
    record_audit(f"user:{user_id}", "address.update", target=f"address:{address.id}")
    return address


def set_default_address(user_id: int, address_id: int) -> Address:
    address = user_address(user_id, address_id)
    if not address.is_default:
        user_defaults.make_default(address, DEFAULT_RACE_MESSAGE)
    return address


def delete_address(user_id: int, address_id: int) -> None:
    """Delete one of the user's addresses; when it was the default, the newest remaining one becomes default."""
    address = user_address(user_id, address_id)
    user_defaults.delete_keeping_a_default(address, DEFAULT_RACE_MESSAGE)
    record_audit(f"user:{user_id}", "address.delete", target=f"address:{address_id}")


def mobile_of(address: Address) -> str:
    """The full mobile (for a courier's waybill only; pages show the masked copy)."""
    return decrypt(address.mobile_enc, MOBILE_PURPOSE)
