"""JSON shapes of the reminder settings and the mini-program's subscribe-message answers."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class ReminderSettingsSchema(Schema):
    enabled = fields.Boolean(metadata={"description": "证书到期提醒 on or off"})
    sms_opt_in = fields.Boolean(metadata={"description": "SMS when neither WeChat channel can reach the user"})
    mobile_masked = fields.String(metadata={"description": "the stored mobile, masked; empty when none"})
    subscribe_accepts = fields.Integer(metadata={"description": "reminder subscribe messages still allowed"})


class ReminderSettingsUpdateSchema(Schema):
    enabled = fields.Boolean(required=True)
    sms_opt_in = fields.Boolean(load_default=None, allow_none=True,
                                metadata={"description": "absent or null: as it was"})
    mobile = fields.String(validate=validate.Length(max=20), load_default=None, allow_none=True,
                           metadata={"description": "11 digits; absent, empty or null: keep the stored mobile"})


class SubscribeTemplatesSchema(Schema):
    template_ids = fields.List(fields.String(), metadata={
        "description": "ask consent for these with wx.requestSubscribeMessage (at binding and at payment)"})


class SubscribeResultsSchema(Schema):
    results = fields.Dict(keys=fields.String(validate=validate.Length(max=64)),
                          values=fields.String(validate=validate.OneOf(["accept", "reject", "ban", "filter"])),
                          required=True, validate=validate.Length(max=20),
                          metadata={"description": "what wx.requestSubscribeMessage answered: {template_id: "
                                                   "accept | reject | ban | filter}"})
    scene = fields.String(load_default="binding", validate=validate.OneOf(["binding", "payment", "settings"]))


class SubscribeCountSchema(Schema):
    subscribe_accepts = fields.Integer()
