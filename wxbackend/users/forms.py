"""The development sign-in form."""

from __future__ import annotations

from wtforms import StringField
from wtforms.validators import DataRequired, Length

from wxbackend.web.forms import Form


class SignInForm(Form):
    name = StringField("姓名", validators=[DataRequired("请输入姓名"), Length(max=20, message="姓名最多20个字")])
