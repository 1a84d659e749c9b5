"""JSON shapes of certificates and 我的应用."""

from __future__ import annotations

from marshmallow import Schema, fields


class CertAppSchema(Schema):
    name = fields.String()
    expires_at = fields.DateTime()
    status = fields.String()
    status_label = fields.String()


class CertificateSummarySchema(Schema):
    id = fields.Integer()
    serial = fields.String()
    organisation = fields.String(attribute="subject_o")
    not_before = fields.DateTime()
    not_after = fields.DateTime()
    status = fields.String()
    status_label = fields.String()
    medium_last4 = fields.String()


class CertificateDetailSchema(CertificateSummarySchema):
    common_name = fields.String(attribute="subject_cn")
    legal_representative = fields.String()
    locality = fields.String(attribute="subject_l")
    province = fields.String(attribute="subject_st")
    email = fields.String()
    apps = fields.List(fields.Nested(CertAppSchema))


class PcCertificateSchema(Schema):
    serial = fields.String()
    organisation = fields.String(attribute="subject_o")
    not_before = fields.DateTime()
    not_after = fields.DateTime()
    medium_last4 = fields.String()
