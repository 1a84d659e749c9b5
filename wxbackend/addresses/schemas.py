"""JSON shapes of 我的地址."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


def _text(maximum: int, **kwargs) -> fields.String:
    return fields.String(validate=validate.Length(max=maximum), load_default="", **kwargs)


class AddressCreateSchema(Schema):
    recipient = _text(50, metadata={"description": "收件人"})
    mobile = _text(20, allow_none=True, metadata={"description": "手机, 11 digits"})
    province = _text(32)
    city = _text(32)
    district = _text(32)
    detail = _text(200, metadata={"description": "详细地址"})
    postcode = _text(10, metadata={"description": "邮编, 6 digits"})
    make_default = fields.Boolean(load_default=False)


class AddressUpdateSchema(AddressCreateSchema):
    mobile = fields.String(validate=validate.Length(max=20), load_default=None, allow_none=True,
                           metadata={"description": "absent or null: keep the stored mobile"})


class AddressSchema(Schema):
    id = fields.Integer()
    recipient = fields.String()
    mobile_masked = fields.String()
    province = fields.String()
    city = fields.String()
    district = fields.String()
    detail = fields.String()
    postcode = fields.String()
    is_default = fields.Boolean()
    updated_at = fields.DateTime()


class CitySchema(Schema):
    n = fields.String(metadata={"description": "市", "example": "广州市"})
    a = fields.List(fields.String(), metadata={"description": "区/县", "example": ["天河区", "越秀区"]})


class ProvinceSchema(Schema):
    """China's administrative divisions (GB/T 2260) as the address picker reads them; the four municipalities take
    their own name as the city."""

    n = fields.String(metadata={"description": "省", "example": "广东省"})
    c = fields.List(fields.Nested(CitySchema))
