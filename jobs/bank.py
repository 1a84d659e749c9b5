"""Bank statement jobs (corporate transfers)."""

from __future__ import annotations

from jobs import app_job
from wxbackend.payments.transfer import match_line


@app_job
def match_statement_line(line_id: int) -> str:
    """Match one imported statement line to the order it pays, or put it in the manual queue with a reason.
    The line is locked and re-checked first: a line already matched or manual is left alone."""
    return match_line(line_id)
