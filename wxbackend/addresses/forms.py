"""The address form (Flask-WTF: CSRF token included). The browser bounds the input (maxlength); the service checks
every field at once and its messages are put back on the fields, so one error never hides another."""

from wtforms import BooleanField, StringField

from wxbackend.web.forms import Form


def _text(label: str, maximum: int) -> StringField:
    return StringField(label, render_kw={"maxlength": maximum})


class AddressForm(Form):
    recipient = _text("收件人", 50)
    mobile = _text("手机号码", 20)
    province = _text("省份", 32)
    city = _text("城市", 32)
    district = _text("区/县", 32)
    detail = _text("详细地址", 200)
    postcode = _text("邮政编码", 10)
    make_default = BooleanField("设为默认地址")
