"""Forms every domain's pages share, and the one way a page shows a service's field errors."""

from __future__ import annotations

from flask_wtf import FlaskForm

from wxbackend.core import uow
from wxbackend.core.validation import InvalidFields


class ConfirmForm(FlaskForm):
    pass


def show_errors(form, invalid: InvalidFields) -> dict[str, str]:
    """Each message under its field; the ones with no field on this form are returned for the top. The refused
    unit of work rolls back (the page is rendered again, nothing kept)."""
    uow.rollback()
    rest = {}
    for name, message in invalid.errors.items():
        if name in form and name != "csrf_token":
            form[name].errors = [*form[name].errors, message]
        else:
            rest[name] = message
    return rest
