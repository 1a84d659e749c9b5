"""身份鉴别认证 form."""

from __future__ import annotations

from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length

from wxbackend.web.forms import Form


class IdentityForm(Form):
    name = StringField("经办人姓名", validators=[DataRequired("请填写经办人姓名"),
                                                 Length(max=20, message="经办人姓名最多20个字")])
    id_number = StringField("身份证号码", validators=[DataRequired("请填写身份证号码"),
                                                   Length(max=18, message="身份证号码应为18位")])
    mobile = StringField("手机号码", validators=[DataRequired("请填写手机号码"),
                                                Length(max=11, message="手机号码应为11位")])
    consent = BooleanField("我已阅读并同意《个人信息处理规则》，同意为身份鉴别处理我的身份证号码和手机号码")
