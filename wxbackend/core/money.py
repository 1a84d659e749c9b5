"""Money is integer fen everywhere (DESIGN §3); only display converts."""

from __future__ import annotations


def format_fen(fen: int) -> str:
    """12345 → '123.45' (money is integer fen everywhere; only display converts)."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"
