"""JSON shapes of binding a key to a phone (DESIGN §4): the phone's claim and the PC's steps."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from wxbackend.certificates.schemas import PcCertificateSchema


class ClaimRequestSchema(Schema):
    code = fields.String(load_default="", validate=validate.Length(max=16), metadata={"example": "12345678"})
    last4 = fields.String(load_default="", validate=validate.Length(max=8), metadata={"example": "3a5f"})
    qr_token = fields.String(load_default=None, validate=validate.Length(max=64))


class ClaimResponseSchema(Schema):
    session_id = fields.String()


class ClaimStateSchema(Schema):
    state = fields.String(metadata={"description": "claimed | bound | rejected | dead"})
    certificate_id = fields.Integer(allow_none=True)
    organisation = fields.String()
    expires_in = fields.Integer()


class BindStartRequestSchema(Schema):
    certificate = fields.String(required=True, validate=validate.Length(max=20000),
                                metadata={"description": "PEM read from the key by the helper"})
    helper_version = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32),
                                   metadata={"description": "the helper's version as the page read it (\"\" when "
                                                            "the helper reported none); older than "
                                                            "HELPER_MIN_VERSION is refused", "example": "1.0.0"})


class BindStartResponseSchema(Schema):
    ticket = fields.String(metadata={"description": "helper ticket for POST /v1/sign"})
    ticket_id = fields.String()
    certificate = fields.Nested(PcCertificateSchema)


class BindCodeRequestSchema(Schema):
    ticket_id = fields.String(required=True, validate=validate.Length(max=64))
    signature = fields.String(required=True, validate=validate.Length(max=2048),
                              metadata={"description": "base64 signature of the ticket's challenge by the key"})


class BindCodeResponseSchema(Schema):
    session_id = fields.String()
    pc_token = fields.String()
    code = fields.String()
    medium_last4 = fields.String()
    qr_svg = fields.String()
    expires_in = fields.Integer()


class PcTokenHeaderSchema(Schema):
    """The PC token travels in a header, never in the URL (URLs end up in access logs and browser history)."""

    pc_token = fields.String(required=True, data_key="X-PC-Token", validate=validate.Length(max=64),
                             metadata={"description": "the pc_token from /pc/api/bind/code"})


class PcSessionStateSchema(Schema):
    state = fields.String(metadata={"description": "waiting | claimed | bound | rejected | dead"})
    claimant = fields.String(allow_none=True, metadata={"example": "张**"})
    expires_in = fields.Integer()


class ConfirmRequestSchema(Schema):
    pc_token = fields.String(required=True, validate=validate.Length(max=64))
    accept = fields.Boolean(required=True)


class ConfirmResponseSchema(Schema):
    state = fields.String()
