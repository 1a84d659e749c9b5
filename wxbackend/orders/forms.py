"""续期 form on the phone; the staff console's order search form."""

from __future__ import annotations

import re
from datetime import date, datetime

from wtforms import BooleanField, HiddenField, RadioField, SelectChoice, SelectField, StringField, ValidationError

from wxbackend.core.validation import MOBILE, clean, digits_only
from wxbackend.orders.contacts import ContactsInput
from wxbackend.orders.models import ID_TYPE_LABELS, INVOICE_DELIVERY_LABELS, STATUS_LABELS
from wxbackend.orders.search import Cursor, OrderQuery
from wxbackend.web.bounds import id_or_none
from wxbackend.web.forms import Form

HEX = re.compile(r"[0-9A-Fa-f]{1,64}")


def _text(label: str, maximum: int) -> StringField:
    return StringField(label, render_kw={"maxlength": maximum})


class ContactsForm(Form):
    """经办人, 收件人 and the invoice's delivery; the service checks every field and its messages go under them."""

    agreement = BooleanField("我接受电子认证服务协议内容")
    agreement_version = HiddenField()  # the version the page showed in full
    operator_id_type = SelectField("经办人证件类型", choices=[SelectChoice(t.value, label)
                                                          for t, label in ID_TYPE_LABELS.items()],
                                   default="resident_id", validate_choice=False)
    operator_id_number = _text("经办人证件号码", 20)
    operator_name = _text("经办人姓名", 50)
    operator_mobile = _text("手机号码", 20)
    operator_email = _text("经办人email", 120)
    recipient_from_operator = BooleanField("从经办人处拷贝")
    address_id = SelectField("从我的地址选择", choices=[], validate_choice=False)
    recipient_name = _text("收件人姓名", 50)
    recipient_mobile = _text("收件人手机", 20)
    recipient_address = _text("收件人地址", 200)
    invoice_delivery = RadioField("发票类型", choices=[SelectChoice(d.value, label)
                                                   for d, label in INVOICE_DELIVERY_LABELS.items()],
                                  default="electronic", validate_choice=False)

    def contacts(self) -> ContactsInput:
        return ContactsInput(
            operator_id_type=self.operator_id_type.data or "", operator_id_number=self.operator_id_number.data or "",
            operator_name=self.operator_name.data or "", operator_mobile=self.operator_mobile.data or "",
            operator_email=self.operator_email.data or "",
            recipient_from_operator=bool(self.recipient_from_operator.data),
            address_id=id_or_none(self.address_id.data),
            recipient_name=self.recipient_name.data or "", recipient_mobile=self.recipient_mobile.data or "",
            recipient_address=self.recipient_address.data or "", invoice_delivery=self.invoice_delivery.data or "")

    def accepted_version(self) -> str | None:
        """The agreement version ticked on this page, None when not ticked."""
        return (self.agreement_version.data or "")[:32] if self.agreement.data else None


class RenewForm(ContactsForm):
    years = SelectField("续期年限", coerce=int, choices=[(n, f"{n}年") for n in range(1, 6)], default=1)
    shown_amount_fen = HiddenField()  # the amount the page showed: the order is created for that amount or not at all


def parse_day(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise ValidationError("日期格式应为 2026-01-31") from None


class OrderSearchForm(Form):
    """/admin/orders?…: a GET form (no CSRF token: it changes nothing), every field optional, messages in Chinese."""

    class Meta:
        csrf = False

    order_no = StringField("受理单号", filters=[clean])
    serial = StringField("证书序列号", filters=[clean])
    organisation = StringField("机构名称", filters=[clean])
    mobile = StringField("经办人手机号", filters=[digits_only])
    status = SelectField("状态", choices=[SelectChoice("", "全部状态")] + [
        SelectChoice(s.value, label) for s, label in STATUS_LABELS.items()], validate_choice=False)
    created_from = StringField("创建日期从", filters=[clean])
    created_to = StringField("至", filters=[clean])
    after = HiddenField(filters=[clean])

    def validate_order_no(self, field):
        if len(field.data) > 32:
            raise ValidationError("受理单号最多32个字符")

    def validate_serial(self, field):
        if field.data and not HEX.fullmatch(field.data):
            raise ValidationError("证书序列号应为十六进制字符（0-9、A-F），区分大小写")

    def validate_organisation(self, field):
        if len(field.data) > 200:
            raise ValidationError("机构名称最多200个字")

    def validate_mobile(self, field):
        if field.data and not MOBILE.fullmatch(field.data):
            raise ValidationError("请填写完整的11位手机号码")

    def validate_status(self, field):
        if field.data and field.data not in {choice.value for choice in self.status.choices}:
            raise ValidationError("请选择列表中的状态")

    def validate_created_from(self, field):
        if field.data:
            parse_day(field.data)

    def validate_created_to(self, field):
        if field.data:
            day = parse_day(field.data)
            try:
                start = parse_day(self.created_from.data) if self.created_from.data else None
            except ValidationError:
                return
            if start and day < start:
                raise ValidationError("结束日期不能早于开始日期")

    def validate_after(self, field):
        if field.data and Cursor.decode(field.data) is None:
            raise ValidationError("分页位置无效，请重新查询")

    def query(self) -> OrderQuery:
        """The criteria typed (call after `validate()`)."""
        return OrderQuery(order_no=self.order_no.data or "", serial=self.serial.data or "",
                          organisation=self.organisation.data or "", mobile=self.mobile.data or "",
                          status=self.status.data or "",
                          created_from=parse_day(self.created_from.data) if self.created_from.data else None,
                          created_to=parse_day(self.created_to.data) if self.created_to.data else None)

    def cursor(self) -> Cursor | None:
        return Cursor.decode(self.after.data) if self.after.data else None
