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


class CertificateHoldSchema(Schema):
    """A hold (挂失) and the certificate's status after it."""

    id = fields.Integer()
    certificate_id = fields.Integer()
    status = fields.String(metadata={"description": "active 挂失中 / withdrawn 已解除挂失 / revoked 已转为吊销"})
    status_label = fields.String()
    reported_at = fields.DateTime()
    ended_at = fields.DateTime(allow_none=True)
    certificate_status = fields.String(attribute="certificate.status")
    certificate_status_label = fields.String(attribute="certificate.status_label")
