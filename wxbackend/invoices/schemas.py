"""JSON shapes of 发票信息管理 and 我的发票."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from wxbackend.invoices import service
from wxbackend.invoices.models import InvoiceStatus, TitleType
from wxbackend.web.bounds import Id


def _text(maximum: int, **kwargs) -> fields.String:
    return fields.String(validate=validate.Length(max=maximum), **kwargs)


class InvoiceProfileCreateSchema(Schema):
    title = _text(100, load_default="", metadata={"description": "发票抬头"})
    title_type = _text(16, load_default="", metadata={"description": " | ".join(t.value for t in TitleType)})
    tax_number = _text(30, load_default="", metadata={"description": "税号: 18-character unified social credit "
                                                                      "code, or a 15/20-character older number"})
    bank_name = _text(100, load_default="")
    bank_account = _text(40, load_default="", allow_none=True)
    address = _text(200, load_default="")
    phone = _text(30, load_default="")
    email = _text(120, load_default="", metadata={"description": "required: the invoice is mailed here"})
    mobile = _text(20, load_default="", allow_none=True)
    make_default = fields.Boolean(load_default=False)


class InvoiceProfileUpdateSchema(InvoiceProfileCreateSchema):
    bank_account = _text(40, load_default=None, allow_none=True,
                         metadata={"description": "absent or null: keep the stored account; empty: remove it"})
    mobile = _text(20, load_default=None, allow_none=True,
                   metadata={"description": "absent or null: keep the stored mobile; empty: remove it"})


class InvoiceProfileSchema(Schema):
    id = fields.Integer()
    title = fields.String()
    title_type = fields.String()
    title_type_label = fields.String()
    tax_number = fields.String()
    bank_name = fields.String()
    bank_account_masked = fields.String()
    address = fields.String()
    phone = fields.String()
    email = fields.String()
    mobile_masked = fields.String()
    is_default = fields.Boolean()
    updated_at = fields.DateTime()


class InvoiceableOrderSchema(Schema):
    id = fields.Integer()
    order_no = fields.String(metadata={"description": "受理单号"})
    subject = fields.String(metadata={"description": "证书名称"})
    kind_label = fields.String()
    amount_fen = fields.Integer(metadata={"description": "收费价格 (fen)"})
    amount_yuan = fields.String()
    fee_detail = fields.String(metadata={"description": "收费明细"})
    status = fields.String()
    status_label = fields.String()
    paid_at = fields.DateTime()


class InvoiceRequestSchema(Schema):
    order_ids = fields.List(Id(), required=True, validate=validate.Length(max=50))
    profile_id = Id(load_default=None, allow_none=True)
    profile = fields.Nested(InvoiceProfileCreateSchema, load_default=None, allow_none=True,
                            metadata={"description": "a profile filled in now instead of profile_id (saved too)"})


class InvoiceItemSchema(Schema):
    order_no = fields.String()
    name = fields.String()
    fee_detail = fields.String()
    amount_fen = fields.Integer()


class InvoiceSchema(Schema):
    id = fields.Integer()
    request_no = fields.String()
    invoice_no = fields.String(allow_none=True, metadata={"description": "发票号码, once issued"})
    status = fields.String(metadata={"description": "pending | issued | failed"})
    status_label = fields.String()
    amount_fen = fields.Integer()
    amount_yuan = fields.String()
    title = fields.String()
    title_type = fields.String()
    tax_number = fields.String()
    email = fields.String()
    failure_reason = fields.String()
    created_at = fields.DateTime()
    issued_at = fields.DateTime(allow_none=True)
    emailed_at = fields.DateTime(allow_none=True)
    delivery = fields.String(metadata={"description": "electronic (mailed) or paper (posted to the recipient)"})
    recipient_name = fields.String()
    recipient_mobile_masked = fields.String()
    recipient_address_masked = fields.String()
    to_post_at = fields.DateTime(allow_none=True, metadata={"description": "a paper invoice: issued, to be posted"})
    items = fields.List(fields.Nested(InvoiceItemSchema))
    download_url = fields.Method("get_download_url", metadata={
        "description": "signed link to the PDF, valid INVOICE_LINK_HOURS, opens without a session; null until issued"})

    def get_download_url(self, invoice):
        return service.link_for(invoice) if invoice.status == InvoiceStatus.ISSUED else None
