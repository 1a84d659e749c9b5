"""The error shapes every JSON endpoint shares (each domain keeps its own request and response schemas in
`<domain>/schemas.py`; together they validate input and generate the OpenAPI document)."""

from __future__ import annotations

from marshmallow import Schema, fields


class ApiErrorSchema(Schema):
    code = fields.String(required=True, metadata={"example": "not_found"})
    message = fields.String(required=True, metadata={"example": "没有找到该证书"})


class FieldErrorsSchema(ApiErrorSchema):
    errors = fields.Dict(keys=fields.String(), values=fields.String(),
                         metadata={"example": {"email": "请填写接收电子发票的邮箱"}})
