"""证书绑定 forms on the phone."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length, Regexp


class BindForm(FlaskForm):
    code = StringField("绑定码", validators=[DataRequired("请输入绑定码"),
                                            Regexp(r"^\d{8}$", message="请输入电脑上显示的8位数字绑定码")])
    last4 = StringField("介质号后四位", validators=[DataRequired("请输入介质号后四位"),
                                                 Regexp(r"^[0-9A-Za-z]{4}$", message="请输入介质号后四位")])


class QrBindForm(FlaskForm):
    qr = HiddenField(validators=[DataRequired(), Length(max=64)])
