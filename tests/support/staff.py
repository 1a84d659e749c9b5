"""Staff in tests: accounts made through the real service, TOTP codes computed with pyotp from the enrolled secret
as the staff member's authenticator app would, and console sign-in through the real pages.

A code is accepted once per 30-second step, and the service allows one step of drift either way; so a fresh
account here is enrolled with the previous step's code, leaving the current and next steps for two more codes
(sign-in, then one fresh code for a sensitive action) without waiting for the clock."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pyotp

from wxbackend.core.db import db
from wxbackend.staff import service
from wxbackend.staff.models import StaffMember

PASSWORD = "correct horse battery"


@dataclass
class Staff:
    id: int
    username: str
    password: str
    secret: str

    def totp(self) -> pyotp.TOTP:
        return pyotp.TOTP(self.secret)

    def next_code(self) -> str:
        """The code of the step after the last one accepted (what a person types a moment later)."""
        last = db.session.get(StaffMember, self.id).last_totp_step
        step = max(last + 1, int(time.time() // 30) - 1)
        assert step <= int(time.time() // 30) + 1, "no unused TOTP step left in the drift window"
        return self.totp().at(step * 30)


def make_staff(username: str, *roles: str, name: str | None = None, enrolled: bool = True) -> Staff:
    """A staff account with its own password already set and (by default) TOTP enrolled, committed."""
    staff, _ = service.create_staff(None, username, name or username, list(roles), password=PASSWORD)
    secret = ""
    if enrolled:
        secret, _ = service.enrolment_secret(staff.id)
        service.finish_enrolment(staff.id, pyotp.TOTP(secret).at((int(time.time() // 30) - 1) * 30))
    staff.must_change_password = False
    db.session.commit()
    return Staff(staff.id, staff.username, PASSWORD, secret)


def csrf_of(page_text: str) -> str:
    return page_text.split('<meta name="csrf-token" content="')[1].split('"')[0]


def sign_in_staff(client, staff: Staff) -> str:
    """Sign `staff` in through /admin/login and /admin/login/totp; the console CSRF token."""
    first = client.post("/admin/login", data={"username": staff.username, "password": staff.password})
    assert first.status_code == 302 and first.headers["Location"].endswith("/admin/login/totp"), first.text
    page = client.get("/admin/login/totp").text
    second = client.post("/admin/login/totp", data={"csrf_token": csrf_of(page), "code": staff.next_code()})
    assert second.status_code == 302 and second.headers["Location"].endswith("/admin/"), second.text
    return csrf_of(client.get("/admin/").text)
