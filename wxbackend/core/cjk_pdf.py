"""The CJK font the PDFs made here embed (the printable application form, the shipping label): WenQuanYi Micro Hei
from the Debian package `fonts-wqy-microhei` (APPLICATION_PDF_FONT), registered with reportlab once, checked on
every document so that a server whose font went missing says so at once; and line wrapping by width for text with
no spaces to break at."""

from __future__ import annotations

from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

FONT = "CJK"


class FontMissing(RuntimeError):
    """The CJK font file is not installed (the two commands install fonts-wqy-microhei)."""


def cjk_font(path: str) -> str:
    """The registered font's name; FontMissing when the file at `path` is not there."""
    if not Path(path).is_file():
        raise FontMissing(f"CJK font {path} missing: apt-get install fonts-wqy-microhei")
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(FONT, path, subfontIndex=0))
    return FONT


def wrap(text: str, width: float, size: float) -> list[str]:
    """`text` in lines no wider than `width` points at `size` in the CJK font, broken between any two characters."""
    lines, line = [], ""
    for char in text:
        if pdfmetrics.stringWidth(line + char, FONT, size) > width:
            lines.append(line)
            line = char
        else:
            line += char
    return lines + [line] if line else lines
