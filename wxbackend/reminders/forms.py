"""The reminder settings form (Flask-WTF: CSRF token included)."""

from wtforms import BooleanField, StringField

from wxbackend.web.forms import Form


class ReminderSettingsForm(Form):
    enabled = BooleanField("接收证书到期提醒")
    sms_opt_in = BooleanField("无法通过微信提醒时，用短信提醒我")
    mobile = StringField("手机号码", render_kw={"maxlength": 20})
