"""经办人 and 收件人 of an order (and its invoice's delivery): what the form starts with (the identity check, 我的地址,
the default invoice profile's email), and the one check of what was typed, every wrong field named at once."""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa

from wxbackend.addresses import service as addresses
from wxbackend.addresses.models import Address
from wxbackend.core.crypto import decrypt, encrypt, mask_id_number, mask_mobile
from wxbackend.core.db import db
from wxbackend.core.errors import NotFound
from wxbackend.core.validation import EMAIL, MOBILE, InvalidFields, check_length, clean, digits_only
from wxbackend.identity import service as identity
from wxbackend.identity.models import IdentityCheck
from wxbackend.invoices.models import InvoiceProfile
from wxbackend.orders.models import IdType, InvoiceDelivery, OrderContact

ID_PURPOSE, MOBILE_PURPOSE, ADDRESS_PURPOSE = "id_number", "mobile", "address"
OTHER_ID = re.compile(r"[A-Z0-9]{5,20}")  # 通行证 and passports: letters and digits, checked by the reviewer


@dataclass
class ContactsInput:
    """What a form or the API gives. Empty operator fields take the user's passed identity check (its name, and its
    ID number and mobile, which pages show masked only); `recipient_from_operator` is 从经办人处拷贝 (the recipient's
    name and mobile are the operator's); `address_id` picks one of 我的地址 for the recipient (name, mobile,
    address)."""

    operator_id_type: str = IdType.RESIDENT_ID.value
    operator_id_number: str = ""
    operator_name: str = ""
    operator_mobile: str = ""
    operator_email: str = ""
    recipient_from_operator: bool = False
    address_id: int | None = None
    recipient_name: str = ""
    recipient_mobile: str = ""
    recipient_address: str = ""
    invoice_delivery: str = InvoiceDelivery.ELECTRONIC.value


@dataclass(frozen=True)
class Prefill:
    """What the 经办人/收件人 form starts with: the verified name in full, the ID number and mobile masked (left empty,
    the verified ones are used), the default invoice profile's email, 我的地址 with the default one chosen."""

    operator_name: str
    operator_id_number_masked: str
    operator_mobile_masked: str
    operator_email: str
    addresses: list[Address]
    address_id: int | None


def _identity(user_id: int) -> IdentityCheck | None:
    return identity.latest_check(user_id)


def prefill(user_id: int) -> Prefill:
    check = _identity(user_id)
    email = db.session.scalar(sa.select(InvoiceProfile.email).where(InvoiceProfile.user_id == user_id)
                              .order_by(InvoiceProfile.is_default.desc(), InvoiceProfile.id.desc()).limit(1))
    default = addresses.default_address(user_id)
    return Prefill(check.name if check else "", check.id_number_masked if check else "",
                   check.mobile_masked if check else "", email or "", addresses.user_addresses(user_id),
                   default.id if default else None)


def mask_address(value: str) -> str:
    """广东省广州市天河区体育西路100号 → 广东省广州市天河**** (the first 8 characters kept)."""
    return value[:8] + "****" if len(value) > 8 else value[:2] + "****"


def _address_line(address: Address) -> str:
    return f"{address.region}{address.detail}"


def checked(user_id: int, data: ContactsInput) -> OrderContact:
    """The order's contacts, validated and encrypted (not yet added to the session). InvalidFields naming every
    wrong field: the ID number checked as the identity check does (`id_number_problem`), mobiles, the email; an
    `address_id` that is not one of the user's own addresses is refused under `address_id`."""
    errors: dict[str, str] = {}
    check = _identity(user_id)
    id_type = clean(data.operator_id_type)
    if id_type not in {t.value for t in IdType}:
        errors["operator_id_type"] = "请选择经办人证件类型"
    id_number = clean(data.operator_id_number).upper().replace(" ", "")
    if not id_number and check is not None and id_type == IdType.RESIDENT_ID:
        id_number = decrypt(check.id_number_enc, ID_PURPOSE)
    if not id_number:
        errors["operator_id_number"] = "请填写经办人证件号码"
    elif id_type == IdType.RESIDENT_ID:
        if problem := identity.id_number_problem(id_number):
            errors["operator_id_number"] = problem
    elif not OTHER_ID.fullmatch(id_number):
        errors["operator_id_number"] = "证件号码应为5至20位字母或数字，请核对"
    name = clean(data.operator_name) or (check.name if check else "")
    if not name:
        errors["operator_name"] = "请填写经办人姓名"
    elif not identity.NAME.fullmatch(name):
        errors["operator_name"] = "请填写经办人的真实姓名"
    mobile = digits_only(data.operator_mobile) or (decrypt(check.mobile_enc, MOBILE_PURPOSE) if check else "")
    if not mobile:
        errors["operator_mobile"] = "请填写经办人手机号码"
    elif not MOBILE.fullmatch(mobile):
        errors["operator_mobile"] = "请填写正确的11位手机号码"
    email = clean(data.operator_email)
    if not email:
        errors["operator_email"] = "请填写经办人邮箱，用于接收通知和电子发票"
    elif len(email) > 120 or not EMAIL.fullmatch(email):
        errors["operator_email"] = "邮箱格式不正确，请核对"

    chosen = None
    if data.address_id is not None:
        try:
            chosen = addresses.user_address(user_id, data.address_id)
        except NotFound:
            errors["address_id"] = "没有找到该地址，请从我的地址中选择"
    if data.recipient_from_operator:
        recipient, recipient_mobile = name, mobile
    elif chosen is not None:
        recipient, recipient_mobile = chosen.recipient, addresses.mobile_of(chosen)
    else:
        recipient, recipient_mobile = clean(data.recipient_name), digits_only(data.recipient_mobile)
    if not data.recipient_from_operator:
        check_length(errors, "recipient_name", recipient, "收件人姓名", 50, required=True)
        if not recipient_mobile:
            errors.setdefault("recipient_mobile", "请填写收件人手机号码")
        elif not MOBILE.fullmatch(recipient_mobile):
            errors.setdefault("recipient_mobile", "请填写正确的11位手机号码")
    address = _address_line(chosen) if chosen is not None else clean(data.recipient_address)
    if data.address_id is None:
        if not address:
            errors["recipient_address"] = "请填写收件地址，用于邮寄纸质发票等"
        elif len(address) < 8:
            errors["recipient_address"] = "请详细填写收件地址（省市区、街道、门牌号）"
        elif len(address) > 200:
            errors["recipient_address"] = "收件地址最多200个字"
    if clean(data.invoice_delivery) not in {d.value for d in InvoiceDelivery}:
        errors["invoice_delivery"] = "请选择电子发票或纸质发票（只能选择其中一种）"
    if errors:
        raise InvalidFields(errors)
    return OrderContact(operator_id_type=id_type, operator_id_number_enc=encrypt(id_number, ID_PURPOSE),
                        operator_id_number_masked=mask_id_number(id_number), operator_name=name,
                        operator_mobile_enc=encrypt(mobile, MOBILE_PURPOSE), operator_mobile_masked=mask_mobile(mobile),
                        operator_email=email, recipient_name=recipient,
                        recipient_mobile_enc=encrypt(recipient_mobile, MOBILE_PURPOSE),
                        recipient_mobile_masked=mask_mobile(recipient_mobile),
                        recipient_address_enc=encrypt(address, ADDRESS_PURPOSE),
                        recipient_address_masked=mask_address(address))


def recipient_of(contact: OrderContact) -> dict[str, str]:
    """The recipient in full (for posting a paper invoice; pages show the masked copies)."""
    return {"name": contact.recipient_name, "mobile": decrypt(contact.recipient_mobile_enc, MOBILE_PURPOSE),
            "address": decrypt(contact.recipient_address_enc, ADDRESS_PURPOSE)}
