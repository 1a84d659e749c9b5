"""The materials form of an expired-certificate renewal (the seed's 申请单): its fields, their checks (every error
in Chinese, by field) and how they are kept — plain fields as they are, ID numbers, mobiles and the bank account
AES-GCM encrypted and shown masked."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

from wxbackend.addresses.divisions import tree
from wxbackend.core.crypto import decrypt, encrypt, mask_bank_account, mask_id_number, mask_mobile
from wxbackend.core.validation import EMAIL, MOBILE, USCC_SHAPE, InvalidFields, clean, digits_only, uscc_check_character
from wxbackend.identity.service import NAME, id_number_problem
from wxbackend.invoices.tax_number import tax_number_problem

HERE = Path(__file__).parent
ACCOUNT = re.compile(r"\d{8,32}")
PURPOSE = "application_materials"


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    section: str
    sensitive: bool = False  # encrypted at rest, masked on every page but the auditor's


FIELDS = (
    Field("org_name", "机构名称", "机构信息"),
    Field("credit_code", "统一社会信用代码", "机构信息"),
    Field("province", "所在省份", "机构信息"),
    Field("city", "所在城市", "机构信息"),
    Field("address", "详细地址", "机构信息"),
    Field("legal_name", "法定代表人姓名", "法人信息"),
    Field("legal_id_number", "法定代表人身份证号码", "法人信息", True),
    Field("legal_mobile", "法定代表人移动电话", "法人信息", True),
    Field("agent_name", "经办人姓名", "经办人信息"),
    Field("agent_id_number", "经办人身份证号码", "经办人信息", True),
    Field("agent_mobile", "经办人移动电话", "经办人信息", True),
    Field("agent_email", "经办人电子邮箱", "经办人信息"),
    Field("agent_title", "经办人职务", "经办人信息"),
    Field("bank_account_name", "基本户名称", "金融认证信息"),
    Field("bank_name", "基本户开户行", "金融认证信息"),
    Field("bank_account", "基本户账号", "金融认证信息", True),
    Field("invoice_type", "发票领取方式", "发票信息"),
    Field("invoice_title", "发票抬头", "发票信息"),
    Field("invoice_tax_number", "纳税人识别号", "发票信息"),
)
FIELD_LABELS = {f.name: f.label for f in FIELDS}
SENSITIVE = tuple(f.name for f in FIELDS if f.sensitive)
INVOICE_TYPES = {"none": "无需发票", "electronic": "电子发票"}
MASKS = {"legal_id_number": mask_id_number, "agent_id_number": mask_id_number, "legal_mobile": mask_mobile,
         "agent_mobile": mask_mobile, "bank_account": mask_bank_account}


@functools.cache
def bank_names() -> tuple[str, ...]:
    """The searchable list of 开户行 (`banks.txt` in this package)."""
    lines = (HERE / "banks.txt").read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def credit_code_problem(code: str) -> str | None:
    """Why an 18-character 统一社会信用代码 (GB 32100-2015) is invalid, or None."""
    if len(code) != 18 or not USCC_SHAPE.fullmatch(code):
        return "统一社会信用代码应为18位数字或大写字母（不含I、O、S、V、Z）"
    if uscc_check_character(code[:17]) != code[17]:
        return "统一社会信用代码校验位不正确，请核对"
    return None


def same_name(a: str, b: str) -> bool:
    """Organisation names compared as people write them: full-width brackets and spaces are not told apart."""
    def norm(s: str) -> str:
        return "".join(s.split()).replace("（", "(").replace("）", ")")
    return norm(a) == norm(b)


def normalise(raw: dict[str, str | None]) -> dict[str, str]:
    """The form's values trimmed, numbers without spaces, codes upper-case."""
    data = {f.name: clean(raw.get(f.name)) for f in FIELDS}
    for name in ("legal_id_number", "agent_id_number", "credit_code", "invoice_tax_number"):
        data[name] = data[name].replace(" ", "").upper()
    for name in ("legal_mobile", "agent_mobile", "bank_account"):
        data[name] = digits_only(data[name])
    data["invoice_type"] = data["invoice_type"] or "none"
    return data


def problems(data: dict[str, str], organisation: str, reveal: bool = True) -> dict[str, str]:
    """Every wrong field and why, in Chinese ({} when the materials can be kept)."""
    errors: dict[str, str] = {}
    for f in FIELDS:
        if not data[f.name] and f.name not in ("invoice_title", "invoice_tax_number", "agent_title"):
            errors[f.name] = f"请填写{f.label}"
    if data["org_name"] and not same_name(data["org_name"], organisation):
        errors["org_name"] = (f"机构名称须与证书所有者一致：{organisation}" if reveal
                              else "机构名称与该证书的所有者不一致，请按营业执照填写全称")
    if data["credit_code"] and (problem := credit_code_problem(data["credit_code"])):
        errors["credit_code"] = problem
    if data["province"] and tree():
        cities = dict(next((c for p, c in tree() if p == data["province"]), ()))
        if not cities:
            errors["province"] = "请从列表中选择省份"
        elif data["city"] and data["city"] not in cities:
            errors["city"] = f"{data['province']}没有“{data['city']}”，请从列表中选择城市"
    if len(data["address"]) > 200:
        errors["address"] = "详细地址最多200个字"
    for person in ("legal", "agent"):
        if data[f"{person}_name"] and not NAME.fullmatch(data[f"{person}_name"]):
            errors[f"{person}_name"] = "请填写与身份证一致的姓名"
        if data[f"{person}_id_number"] and (problem := id_number_problem(data[f"{person}_id_number"])):
            errors[f"{person}_id_number"] = problem
        if data[f"{person}_mobile"] and not MOBILE.fullmatch(data[f"{person}_mobile"]):
            errors[f"{person}_mobile"] = "请填写正确的11位手机号码"
    if data["agent_email"] and (len(data["agent_email"]) > 120 or not EMAIL.fullmatch(data["agent_email"])):
        errors["agent_email"] = "邮箱格式不正确，请核对"
    if len(data["agent_title"]) > 50:
        errors["agent_title"] = "职务最多50个字"
    if data["bank_account_name"] and not same_name(data["bank_account_name"], organisation):
        errors["bank_account_name"] = (f"基本户名称须与机构名称一致：{organisation}" if reveal
                                       else "基本户名称须与机构名称一致")
    if data["bank_name"] and data["bank_name"] not in bank_names():
        errors["bank_name"] = "请从搜索下拉列表中选择开户行，例如输入“工商”选择中国工商银行"
    if data["bank_account"] and not ACCOUNT.fullmatch(data["bank_account"]):
        errors["bank_account"] = "基本户账号应为8至32位数字"
    if data["invoice_type"] not in INVOICE_TYPES:
        errors["invoice_type"] = "请选择发票领取方式"
    elif data["invoice_type"] == "electronic":
        if not data["invoice_title"]:
            errors["invoice_title"] = "请填写发票抬头"
        elif len(data["invoice_title"]) > 100:
            errors["invoice_title"] = "发票抬头最多100个字"
        if not data["invoice_tax_number"]:
            errors["invoice_tax_number"] = "请填写纳税人识别号（统一社会信用代码）"
        elif problem := tax_number_problem(data["invoice_tax_number"]):
            errors["invoice_tax_number"] = problem
    return errors


def check(raw: dict[str, str | None], organisation: str, reveal: bool = True) -> dict[str, str]:
    """The materials normalised; InvalidFields naming every wrong field."""
    data = normalise(raw)
    errors = problems(data, organisation, reveal)
    if errors:
        raise InvalidFields(errors)
    if data["invoice_type"] == "none":
        data["invoice_title"] = data["invoice_tax_number"] = ""
    return data


def seal(data: dict[str, str]) -> tuple[dict[str, str], bytes]:
    """(plain fields with the sensitive ones masked, the sensitive ones encrypted as one JSON object)."""
    plain = {k: v for k, v in data.items() if k not in SENSITIVE}
    plain.update({f"{k}_masked": MASKS[k](data[k]) for k in SENSITIVE})
    secret = encrypt(json.dumps({k: data[k] for k in SENSITIVE}, ensure_ascii=False), PURPOSE)
    return plain, secret


def unseal(fields: dict, sensitive_enc: bytes) -> dict[str, str]:
    """Every field in full (for the auditor, the PDF and the payout)."""
    data = {f.name: fields.get(f.name, "") for f in FIELDS if not f.sensitive}
    data.update(json.loads(decrypt(sensitive_enc, PURPOSE)))
    return data


def masked(fields: dict) -> dict[str, str]:
    """Every field as the user's pages show it (sensitive ones masked)."""
    return {f.name: fields.get(f"{f.name}_masked" if f.sensitive else f.name, "") for f in FIELDS}


def display(data: dict[str, str]) -> dict[str, str]:
    """Values as a person reads them (the invoice choice by its label)."""
    shown = dict(data)
    shown["invoice_type"] = INVOICE_TYPES.get(data.get("invoice_type", ""), data.get("invoice_type", ""))
    return shown


def changed_fields(old: dict[str, str], new: dict[str, str]) -> list[str]:
    return [f.name for f in FIELDS if (old.get(f.name) or "") != (new.get(f.name) or "")]
