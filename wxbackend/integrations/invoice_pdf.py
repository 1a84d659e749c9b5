"""The invoice PDF of the embedded (`local`) adapter, drawn with reportlab: seller, buyer, one line per order,
amounts in yuan, the total in figures and in capitals (大写), the invoice number and date.

Chinese text uses reportlab's built-in CID font STSong-Light (Adobe-GB1; the reader supplies the glyphs), so no
font file has to be installed or shipped.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from wxbackend.core.money import format_fen
from wxbackend.core.times import SHANGHAI

FONT = "STSong-Light"
DIGITS = "零壹贰叁肆伍陆柒捌玖"
INVOICE_RED = colors.HexColor("#9c3a2b")


@dataclass(frozen=True)
class Party:
    name: str
    tax_number: str = ""
    address: str = ""
    phone: str = ""
    bank_name: str = ""
    bank_account: str = ""


@dataclass(frozen=True)
class Line:
    name: str  # 项目名称
    order_no: str
    fee_detail: str
    amount_fen: int


@dataclass(frozen=True)
class InvoiceDocument:
    """Everything an invoice says, whichever adapter issues it."""

    invoice_id: int
    request_no: str
    seller: Party
    buyer: Party
    buyer_title_type: str  # enterprise | personal | government
    lines: tuple[Line, ...]
    total_fen: int
    email: str
    mobile: str = ""
    tax_rate_percent: int = 6

    def net_and_tax(self, gross_fen: int) -> tuple[int, int]:
        """An amount including VAT split into 金额 (net) and 税额 (tax), to the fen; they add up to the amount."""
        net = round(gross_fen * 100 / (100 + self.tax_rate_percent))
        return net, gross_fen - net


def _four_digits(group: int) -> str:
    """1..9999 in capitals: 1010 → 壹仟零壹拾."""
    out, zero = "", False
    for value, unit in ((group // 1000 % 10, "仟"), (group // 100 % 10, "佰"), (group // 10 % 10, "拾"),
                        (group % 10, "")):
        if value:
            out += ("零" if zero and out else "") + DIGITS[value] + unit
            zero = False
        else:
            zero = True
    return out


def _yuan_upper(yuan: int) -> str:
    """Whole yuan in capitals, in groups of four digits (万, 亿): 100001 → 壹拾万零壹."""
    groups = []
    while yuan:
        groups.append(yuan % 10000)
        yuan //= 10000
    words, zero_pending = "", False
    for index in reversed(range(len(groups))):
        group = groups[index]
        if group == 0:
            zero_pending = bool(words)
            continue
        if words and (zero_pending or group < 1000):
            words += "零"
        words += _four_digits(group) + ("", "万", "亿", "万亿")[index]
        zero_pending = False
    return words


def rmb_upper(fen: int) -> str:
    """An amount in capitals as invoices write it: 60000 → 陆佰元整, 100550 → 壹仟零伍元伍角整, 1005 → 壹拾元零伍分."""
    if fen < 0:
        return "负" + rmb_upper(-fen)
    yuan, jiao, cents = fen // 100, fen // 10 % 10, fen % 10
    words = _yuan_upper(yuan) + "元" if yuan else ""
    if not jiao and not cents:
        return (words or "零元") + "整"
    if jiao:
        words += DIGITS[jiao] + "角"
    elif words:
        words += "零"
    return words + (DIGITS[cents] + "分" if cents else "整")


def _styles() -> dict[str, ParagraphStyle]:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    base = ParagraphStyle("base", fontName=FONT, fontSize=9.5, leading=13, wordWrap="CJK")
    return {
        "base": base,
        "title": ParagraphStyle("title", parent=base, fontSize=20, leading=26, alignment=TA_CENTER,
                                textColor=INVOICE_RED),
        "label": ParagraphStyle("label", parent=base, textColor=INVOICE_RED),
        "small": ParagraphStyle("small", parent=base, fontSize=8.5, leading=11, textColor=colors.HexColor("#555555")),
    }


def render_invoice_pdf(doc: InvoiceDocument, invoice_no: str, issued_at: datetime) -> bytes:
    """The PDF of an issued invoice."""
    styles = _styles()

    def p(text: str, style: str = "base") -> Paragraph:
        return Paragraph(escape(text), styles[style])

    out = io.BytesIO()
    pdf = SimpleDocTemplate(out, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm,
                            bottomMargin=15 * mm, title=f"电子发票 {invoice_no}", author=doc.seller.name,
                            subject="电子发票（普通发票）")
    width = A4[0] - 30 * mm
    day = issued_at.astimezone(SHANGHAI)
    header = Table([[p("发票号码：", "label"), p(invoice_no)],
                    [p("开票日期：", "label"), p(f"{day.year}年{day.month:02d}月{day.day:02d}日")]],
                   colWidths=[22 * mm, 48 * mm], hAlign="RIGHT")

    def party(role: str, who: Party) -> list:
        rows = [f"名称：{who.name}", f"统一社会信用代码/纳税人识别号：{who.tax_number or '—'}"]
        if who.address or who.phone:
            rows.append(f"地址、电话：{who.address} {who.phone}".rstrip())
        if who.bank_name or who.bank_account:
            rows.append(f"开户行及账号：{who.bank_name} {who.bank_account}".rstrip())
        return [p(role, "label"), [p(row) for row in rows]]

    parties = Table([party("购买方信息", doc.buyer), party("销售方信息", doc.seller)],
                    colWidths=[22 * mm, width - 22 * mm])
    parties.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.6, INVOICE_RED),
                                 ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
    rate = f"{doc.tax_rate_percent}%"
    rows = [[p("项目名称", "label"), p("受理单号", "label"), p("收费明细", "label"), p("金额（元）", "label"),
             p("税率", "label"), p("税额（元）", "label")]]
    net_total = tax_total = 0
    for line in doc.lines:
        net, tax = doc.net_and_tax(line.amount_fen)
        net_total, tax_total = net_total + net, tax_total + tax
        rows.append([p(f"*信息技术服务*{line.name}"), p(line.order_no), p(line.fee_detail), p(format_fen(net)),
                     p(rate), p(format_fen(tax))])
    rows.append([p("合计", "label"), "", "", p(f"¥{format_fen(net_total)}"), "", p(f"¥{format_fen(tax_total)}")])
    rows.append([p("价税合计（大写）", "label"), p(rmb_upper(doc.total_fen)), "", "",
                 p(f"（小写）¥{format_fen(doc.total_fen)}"), ""])
    items = Table(rows, colWidths=[44 * mm, 40 * mm, 40 * mm, 22 * mm, 12 * mm, width - 158 * mm], repeatRows=1)
    items.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.6, INVOICE_RED), ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                               ("SPAN", (1, -1), (3, -1)), ("SPAN", (4, -1), (5, -1)),
                               ("ALIGN", (3, 1), (-1, -1), "RIGHT")]))
    remarks = Table([[p("备注", "label"), p(f"申请编号：{doc.request_no}；本发票对应受理单："
                                            + "、".join(line.order_no for line in doc.lines))]],
                    colWidths=[22 * mm, width - 22 * mm])
    remarks.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.6, INVOICE_RED)]))
    pdf.build([p("电子发票（普通发票）", "title"), Spacer(1, 4 * mm), header, Spacer(1, 4 * mm), parties,
               Spacer(1, 3 * mm), items, Spacer(1, 3 * mm), remarks, Spacer(1, 4 * mm),
               p(f"开票人：{doc.seller.name}　　本发票由数安CA管家系统开具，可在“我的发票 - 开票历史”中重新下载。",
                 "small")])
    return out.getvalue()
