"""Forms of the invoice pages (Flask-WTF: CSRF token included). The browser bounds the input (maxlength); the
service checks every field at once and its messages are put back on the fields, so one error never hides another."""

from wtforms import BooleanField, RadioField, SelectChoice, SelectMultipleField, StringField

from wxbackend.invoices.models import TITLE_TYPE_LABELS, TitleType
from wxbackend.web.bounds import coerce_id, ids_in_range
from wxbackend.web.forms import Form


def _text(label: str, maximum: int) -> StringField:
    return StringField(label, render_kw={"maxlength": maximum})


class InvoiceProfileForm(Form):
    title = _text("发票抬头", 100)
    title_type = RadioField("抬头类型", default=TitleType.ENTERPRISE.value, validate_choice=False,
                            choices=[SelectChoice(kind.value, TITLE_TYPE_LABELS[kind]) for kind in TitleType])
    tax_number = _text("税号", 30)
    bank_name = _text("开户银行", 100)
    bank_account = _text("银行账号", 40)
    address = _text("地址", 200)
    phone = _text("电话", 30)
    email = _text("邮箱", 120)
    mobile = _text("手机号", 20)
    make_default = BooleanField("设为默认发票信息")


class InvoiceRequestForm(InvoiceProfileForm):
    """开票: the orders chosen, and a profile chosen (its id) or filled in here ("new")."""

    order_ids = SelectMultipleField("受理单", coerce=coerce_id, validate_choice=False, validators=[ids_in_range])
    profile_id = RadioField("发票信息", validate_choice=False)
