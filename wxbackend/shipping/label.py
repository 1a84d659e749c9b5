"""The shipping label (PDF made here, 100 × 150 mm as couriers' thermal labels are): sender (the CA, from config),
recipient, the order number as text, as a Code 128 barcode and as a QR code. The CJK font is the one the
application form embeds (APPLICATION_PDF_FONT, Debian `fonts-wqy-microhei`)."""

from __future__ import annotations

import io
from dataclasses import dataclass

import qrcode
from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas

from wxbackend.core.cjk_pdf import cjk_font, wrap

PAGE = (100 * mm, 150 * mm)


@dataclass(frozen=True)
class Party:
    name: str
    phone: str
    address: str




def shipping_label(*, order_no: str, sender: Party, recipient: Party, carrier: str, font_path: str) -> bytes:
    """The label as PDF bytes. Raises FontMissing when the font is not installed."""
    font = cjk_font(font_path)
    buffer = io.BytesIO()
    pdf = Canvas(buffer, pagesize=PAGE)
    pdf.setTitle(f"寄件单 {order_no}")
    width, height = PAGE
    left, right = 5 * mm, width - 5 * mm
    y = height - 10 * mm
    pdf.setFont(font, 13)
    pdf.drawString(left, y, "数字证书介质寄件单")
    pdf.setFont(font, 8)
    pdf.drawRightString(right, y, carrier or "")
    y -= 4 * mm
    pdf.line(left, y, right, y)

    def party(title: str, who: Party, top: float, size: float) -> float:
        pdf.setFont(font, 8)
        pdf.drawString(left, top, title)
        top -= size / 2.2 * mm
        pdf.setFont(font, size)
        pdf.drawString(left + 8 * mm, top, f"{who.name}  {who.phone}")
        for line in wrap(who.address, right - left - 8 * mm, size):
            top -= size / 2.2 * mm
            pdf.drawString(left + 8 * mm, top, line)
        return top - 4 * mm

    y = party("收件人", recipient, y - 6 * mm, 12)
    pdf.line(left, y, right, y)
    y = party("寄件人", sender, y - 6 * mm, 9)
    pdf.line(left, y, right, y)
    y -= 6 * mm
    pdf.setFont(font, 9)
    pdf.drawString(left, y, f"受理单号：{order_no}")
    barcode = Code128(order_no, barHeight=14 * mm, barWidth=0.3 * mm, humanReadable=False)
    y -= 18 * mm
    barcode.drawOn(pdf, left, y)
    qr = qrcode.make(order_no, box_size=4, border=1)
    image = io.BytesIO()
    qr.save(image, format="PNG")
    pdf.drawImage(ImageReader(io.BytesIO(image.getvalue())), right - 22 * mm, y - 8 * mm, 22 * mm, 22 * mm)
    pdf.setFont(font, 8)
    pdf.drawString(left, y - 5 * mm, order_no)
    pdf.drawString(left, 8 * mm, "内件：数字证书介质（U-KEY）一个。PIN码另行发送，不随件寄出。")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
