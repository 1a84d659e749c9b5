"""JSON shapes of the 电子认证服务协议 and its acceptance."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class ServiceAgreementSchema(Schema):
    document = fields.String(metadata={"example": "service_agreement"})
    title = fields.String(metadata={"example": "电子认证服务协议"})
    version = fields.String(metadata={"example": "2026-12-v2"})
    text = fields.String(metadata={"description": "the full text, to show before accepting"})
    accepted = fields.Boolean(metadata={"description": "whether I accepted this version (then orders need no "
                                                       "agreement_version)"})
    accepted_at = fields.DateTime(allow_none=True)


class AgreementAcceptSchema(Schema):
    version = fields.String(required=True, validate=validate.Length(min=1, max=32),
                            metadata={"description": "the version shown and accepted"})
