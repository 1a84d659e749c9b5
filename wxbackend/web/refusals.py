"""How a page answers a refusal (STYLE: a refusal commits nothing).

A view never catches a `DomainError` by hand: `refusals_flashed` rolls the unit of work back (keeping the
refusal's audit rows), flashes the Chinese message and redirects, by default to the same page as a GET, or to
where `back` says; `NotFound` stays a 404 page. JSON endpoints need nothing: the app's `DomainError` handler rolls
back the same way (`web.errors`)."""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import flash, redirect, request

from wxbackend.core import uow
from wxbackend.core.errors import DomainError, NotFound


def refusals_flashed(back: Callable[..., str] | None = None,
                     elsewhere: dict[type[DomainError], Callable[..., str]] | None = None,
                     answered: tuple[type[DomainError], ...] = ()):
    """Decorate a page view: a refusal becomes flash-and-redirect to `back(**view_args)` (default: this page as a
    GET); a refusal of a type in `elsewhere` goes where its function says instead (e.g. the identity check first),
    flashed as information; one of a type in `answered` is left to the app's handler, which answers with its own
    status (e.g. a replayed one-time form: 409)."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            try:
                return view(*args, **kwargs)
            except (NotFound, *answered):
                raise  # NotFound: someone else's (or no such) object: the 404 page, rolled back by the app's handler
            except DomainError as refused:
                uow.rollback()
                for kind, where in (elsewhere or {}).items():
                    if isinstance(refused, kind):
                        flash(refused.message, "info")
                        return redirect(where(**kwargs))
                flash(refused.message, "error")
                return redirect(back(**kwargs) if back else request.full_path.rstrip("?"))

        return wrapper

    return decorate


def field_refused(refused: DomainError, field: str) -> dict[str, str]:
    """A refusal that names one form field, shown under it on the re-rendered page; the unit of work rolls back."""
    uow.rollback()
    return {field: refused.message}
