"""Forms every domain's pages share, and the one way a page shows a service's field errors."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms.i18n import get_translations

from wxbackend.core import uow
from wxbackend.core.validation import InvalidFields


class ChineseTranslations:
    """WTForms' own Chinese messages, with the ones its catalogue leaves in English (length limits) filled in."""

    OWN = {
        "Field cannot be longer than %(max)d character.": "最多%(max)d个字",
        "Field cannot be longer than %(max)d characters.": "最多%(max)d个字",
        "Field must be at least %(min)d character long.": "至少%(min)d个字",
        "Field must be at least %(min)d characters long.": "至少%(min)d个字",
        "Field must be between %(min)d and %(max)d characters long.": "应为%(min)d至%(max)d个字",
        "Invalid input.": "输入无效",
        "Not a valid choice.": "请从列表中选择",
        "Not a valid choice": "请从列表中选择",
        "This field is required.": "必填",
    }

    def __init__(self):
        self.catalogue = get_translations(["zh"])

    def gettext(self, text: str) -> str:
        return self.OWN.get(text) or self.catalogue.gettext(text)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.OWN.get(singular if n == 1 else plural) or self.catalogue.ngettext(singular, plural, n)


TRANSLATIONS = ChineseTranslations()


class Form(FlaskForm):
    """Every form of our pages: its default messages are Chinese."""

    class Meta:
        def get_translations(self, form):
            return TRANSLATIONS


class ConfirmForm(Form):
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
