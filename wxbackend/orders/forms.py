"""续期 form on the phone."""

from __future__ import annotations

from wtforms import HiddenField, SelectField

from wxbackend.web.forms import Form


class RenewForm(Form):
    years = SelectField("续期年限", coerce=int, choices=[(n, f"{n}年") for n in range(1, 6)], default=1)
    shown_amount_fen = HiddenField()  # the amount the page showed: the order is created for that amount or not at all
