"""JSON shapes of 身份鉴别认证."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class IdentityRequestSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(max=50))
    id_number = fields.String(required=True, validate=validate.Length(max=18))
    mobile = fields.String(required=True, validate=validate.Length(max=11))
    consent = fields.Boolean(required=True, metadata={"description": "单独同意 of the personal-data rules"})


class IdentityResultSchema(Schema):
    name = fields.String()
    id_number_masked = fields.String()
    mobile_masked = fields.String()
    result = fields.String()
