"""JSON shapes of the signed-in user."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class MeSchema(Schema):
    id = fields.Integer()
    nickname = fields.String()


class PcLoginScanSchema(Schema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=128), metadata={
        "description": "the `t` of the PC's QR link (…/h5/pc-login?t=…), as wx.scanCode reads it"})


class PcLoginSchema(Schema):
    """扫码登录 as the phone sees it: 在电脑上登录数安CA管家？ with the PC's network, browser and time."""

    login_id = fields.String()
    state = fields.String(metadata={"description": "scanned (waiting for the answer), confirmed, refused, used"})
    ip = fields.String(metadata={"example": "内网 IP 127.0.0.*"})
    device = fields.String(metadata={"example": "Chrome（Windows）"})
    requested_at = fields.DateTime()
    expires_in = fields.Integer()


class PcLoginAnswerSchema(Schema):
    accept = fields.Boolean(required=True, metadata={"description": "true: 确认登录; false: 取消"})
