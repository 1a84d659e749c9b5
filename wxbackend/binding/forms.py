"""证书绑定 forms on the phone."""

from __future__ import annotations

from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length, Regexp

from wxbackend.web.forms import Form


class BindForm(Form):
    code = StringField("绑定码", validators=[DataRequired("请输入绑定码"),
                                            Regexp(r"^\d{8}$", message="请输入电脑上显示的8位数字绑定码")])
    last4 = StringField("介质号后四位", validators=[DataRequired("请输入介质号后四位"),
                                                 Regexp(r"^[0-9A-Za-z]{4}$", message="请输入介质号后四位")])


class QrBindForm(Form):
    qr = HiddenField(validators=[DataRequired(), Length(max=64)])
