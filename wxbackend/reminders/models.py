"""Expiry reminders (DESIGN §16): one row per (object, end date, stage), what each bound user was sent, each user's
switch and SMS opt-in, and the mini-program subscribe-message accepts a user has left per notice kind."""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wxbackend.core.db import UTCDateTime, db
from wxbackend.core.times import utcnow


class ReminderTarget(enum.StrEnum):
    CERTIFICATE = "certificate"
    APP = "app"


class Reminder(db.Model):
    """A certificate (or one of its 应用) reached `stage` days before its end (`ends_on`, Asia/Shanghai; negative:
    after it). `key` is unique — `<target>:<object id>:<ends_on>:<stage>` — so a second scan, or a second scheduler
    at the same time, creates no second row and therefore sends nothing twice. An 应用 renewed gets a new `ends_on`,
    and so its stages again."""

    __tablename__ = "reminders"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(80), unique=True)
    target: Mapped[str] = mapped_column(sa.String(16))
    certificate_id: Mapped[int] = mapped_column(sa.ForeignKey("certificates.id"), index=True)
    cert_app_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cert_apps.id"), index=True)
    stage: Mapped[int]
    ends_on: Mapped[date] = mapped_column(sa.Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    certificate = relationship("Certificate")
    cert_app = relationship("CertApp")


class DeliveryChannel(enum.StrEnum):
    TEMPLATE = "template"  # official-account template message (followers)
    SUBSCRIBE = "subscribe"  # mini-program one-time subscribe message (one per accept)
    SMS = "sms"  # the opt-in fallback
    LOG = "log"  # NOTICES_ADAPTER=log: no WeChat in this deployment
    NONE = "none"  # nothing was possible or wanted; `note` says why


class ReminderDelivery(db.Model):
    """What one bound user got for one reminder: written once, by the delivery job, in the commit that follows
    the send (a second run of the job finds it and sends nothing)."""

    __tablename__ = "reminder_deliveries"
    __table_args__ = (sa.UniqueConstraint("reminder_id", "user_id", name="uq_reminder_deliveries_reminder_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reminder_id: Mapped[int] = mapped_column(sa.ForeignKey("reminders.id"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    channel: Mapped[str] = mapped_column(sa.String(16))
    note: Mapped[str] = mapped_column(sa.String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReminderPreference(db.Model):
    """A user's choice: reminders on (the default) or off, and SMS as a fallback (off unless asked for, with the
    mobile stored encrypted)."""

    __tablename__ = "reminder_preferences"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    sms_opt_in: Mapped[bool] = mapped_column(default=False)
    mobile_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    mobile_masked: Mapped[str] = mapped_column(sa.String(16), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SubscribeAccept(db.Model):
    """How many mini-program subscribe messages of `kind` the user has accepted and not yet been sent: WeChat
    allows one message per acceptance (wx.requestSubscribeMessage answered "accept")."""

    __tablename__ = "subscribe_accepts"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    remaining: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
