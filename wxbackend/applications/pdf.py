"""The printable 申请表 (PDF made here): every field of the revision, the 授权委托及单位声明, the application number,
a QR code back to the application, and places for the 经办人's signature and the red seal. The CJK font is
WenQuanYi Micro Hei from the Debian package `fonts-wqy-microhei` (APPLICATION_PDF_FONT), embedded in the file."""

from __future__ import annotations

import io

import qrcode
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas

from wxbackend.applications.materials import FIELDS, display
from wxbackend.core.cjk_pdf import cjk_font, wrap


def application_form(*, application_no: str, kind_label: str, data: dict[str, str], declaration: str, link: str,
                     font_path: str, revision: int) -> bytes:
    """The form as PDF bytes."""
    font = cjk_font(font_path)
    buffer = io.BytesIO()
    pdf = Canvas(buffer, pagesize=A4)
    pdf.setTitle(f"数字证书{kind_label}申请表 {application_no}")
    width, height = A4
    left, right = 18 * mm, width - 18 * mm
    y = height - 20 * mm
    pdf.setFont(font, 16)
    pdf.drawCentredString(width / 2, y, f"数字证书{kind_label}申请表")
    pdf.setFont(font, 9)
    y -= 8 * mm
    pdf.drawString(left, y, f"申请编号：{application_no}    第{revision}版")
    qr = qrcode.make(link, box_size=4, border=1)
    image = io.BytesIO()
    qr.save(image, format="PNG")
    pdf.drawImage(ImageReader(io.BytesIO(image.getvalue())), right - 24 * mm, height - 36 * mm, 24 * mm, 24 * mm)
    pdf.setFont(font, 7)
    pdf.drawRightString(right, height - 39 * mm, "扫码查看申请")
    y -= 12 * mm
    shown = display(data)
    section = None
    for field in FIELDS:
        if field.section != section:
            section = field.section
            y -= 2 * mm
            pdf.setFont(font, 11)
            pdf.drawString(left, y, section)
            pdf.line(left, y - 1.5 * mm, right, y - 1.5 * mm)
            y -= 6 * mm
        pdf.setFont(font, 9)
        pdf.drawString(left + 2 * mm, y, f"{field.label}：")
        pdf.drawString(left + 45 * mm, y, shown.get(field.name, "") or "—")
        y -= 5.5 * mm
    y -= 4 * mm
    pdf.setFont(font, 11)
    pdf.drawString(left, y, "授权委托及单位声明")
    y -= 6 * mm
    pdf.setFont(font, 9)
    for paragraph in declaration.strip().splitlines()[1:]:
        for line in wrap(paragraph.strip(), right - left, 9):
            pdf.drawString(left, y, line)
            y -= 5 * mm
    y -= 8 * mm
    pdf.drawString(left, y, "经办人（手写签名）：________________")
    pdf.drawString(left + 95 * mm, y, "日期：______年____月____日")
    y -= 14 * mm
    pdf.drawString(left, y, "申请单位（加盖红色公章）：")
    pdf.rect(left + 45 * mm, y - 32 * mm, 42 * mm, 42 * mm)
    pdf.setFont(font, 7)
    pdf.drawCentredString(left + 66 * mm, y - 12 * mm, "公章处")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
