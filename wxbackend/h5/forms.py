"""Forms of the H5 pages (Flask-WTF: CSRF token included)."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Regexp


class SignInForm(FlaskForm):
    name = StringField("姓名", validators=[DataRequired("请输入姓名"), Length(max=20, message="姓名最多20个字")])


class BindForm(FlaskForm):
    code = StringField("绑定码", validators=[DataRequired("请输入绑定码"),
                                            Regexp(r"^\d{8}$", message="请输入电脑上显示的8位数字绑定码")])
    last4 = StringField("介质号后四位", validators=[DataRequired("请输入介质号后四位"),
                                                 Regexp(r"^[0-9A-Za-z]{4}$", message="请输入介质号后四位")])


class QrBindForm(FlaskForm):
    qr = HiddenField(validators=[DataRequired(), Length(max=64)])


class ConfirmForm(FlaskForm):
    pass


class RenewForm(FlaskForm):
    years = SelectField("续期年限", coerce=int, choices=[(n, f"{n}年") for n in range(1, 6)], default=1)
    shown_amount_fen = HiddenField()  # the amount the page showed: the order is created for that amount or not at all


class IdentityForm(FlaskForm):
    name = StringField("经办人姓名", validators=[DataRequired("请填写经办人姓名"), Length(max=20)])
    id_number = StringField("身份证号码", validators=[DataRequired("请填写身份证号码"), Length(max=18)])
    mobile = StringField("手机号码", validators=[DataRequired("请填写手机号码"), Length(max=11)])
    consent = BooleanField("我已阅读并同意《个人信息处理规则》，同意为身份鉴别处理我的身份证号码和手机号码")
