"""身份鉴别认证 form."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length


class IdentityForm(FlaskForm):
    name = StringField("经办人姓名", validators=[DataRequired("请填写经办人姓名"), Length(max=20)])
    id_number = StringField("身份证号码", validators=[DataRequired("请填写身份证号码"), Length(max=18)])
    mobile = StringField("手机号码", validators=[DataRequired("请填写手机号码"), Length(max=11)])
    consent = BooleanField("我已阅读并同意《个人信息处理规则》，同意为身份鉴别处理我的身份证号码和手机号码")
