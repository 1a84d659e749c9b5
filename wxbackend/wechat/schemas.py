"""JSON shapes of the WeChat channel: mini-program login, JS-SDK config."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from wxbackend.users.schemas import MeSchema


class MiniProgramLoginSchema(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=128),
                         metadata={"description": "The code from wx.login()"})


class ApiTokenSchema(Schema):
    token = fields.String(metadata={"description": "Send as `Authorization: Bearer <token>`"})
    expires_in = fields.Integer(metadata={"description": "Seconds"})
    user = fields.Nested(MeSchema)


class JssdkQuerySchema(Schema):
    url = fields.String(required=True, validate=validate.Length(min=1, max=2048))


class JssdkConfigSchema(Schema):
    appId = fields.String()  # noqa: N815 (wx.config's own names)
    timestamp = fields.Integer()
    nonceStr = fields.String()  # noqa: N815
    signature = fields.String()
    jsApiList = fields.List(fields.String())  # noqa: N815
