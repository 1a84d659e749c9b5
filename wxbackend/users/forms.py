"""The development sign-in form."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length


class SignInForm(FlaskForm):
    name = StringField("姓名", validators=[DataRequired("请输入姓名"), Length(max=20, message="姓名最多20个字")])
