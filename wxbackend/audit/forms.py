"""The console's audit-log search form (a GET form: it changes nothing, so no CSRF token)."""

from __future__ import annotations

from datetime import datetime, timedelta

from wtforms import HiddenField, StringField, ValidationError

from wxbackend.audit.service import AuditQuery
from wxbackend.core.times import from_local
from wxbackend.core.validation import clean
from wxbackend.web.forms import Form

MOMENT_FORMATS = (("%Y-%m-%dT%H:%M", timedelta(minutes=1)), ("%Y-%m-%dT%H:%M:%S", timedelta(seconds=1)),
                  ("%Y-%m-%d %H:%M", timedelta(minutes=1)), ("%Y-%m-%d", timedelta(days=1)))


def parse_moment(text: str) -> tuple[datetime, timedelta]:
    """A wall-clock time in Asia/Shanghai as typed (to the minute, second or day) and how long it lasts."""
    for pattern, lasts in MOMENT_FORMATS:
        try:
            return datetime.strptime(text, pattern), lasts
        except ValueError:
            continue
    raise ValidationError("时间格式应为 2026-01-31 09:30")


class AuditSearchForm(Form):
    class Meta:
        csrf = False

    actor = StringField("操作者", filters=[clean])
    target = StringField("对象（前缀）", filters=[clean])
    action = StringField("操作（前缀）", filters=[clean])
    result = StringField("结果", filters=[clean])
    since = StringField("时间从", filters=[clean])
    until = StringField("至", filters=[clean])
    before = HiddenField(filters=[clean])

    def validate_actor(self, field):
        if len(field.data) > 64:
            raise ValidationError("操作者最多64个字符")

    def validate_target(self, field):
        if len(field.data) > 128:
            raise ValidationError("对象最多128个字符")

    def validate_action(self, field):
        if len(field.data) > 64:
            raise ValidationError("操作最多64个字符")

    def validate_result(self, field):
        if len(field.data) > 32:
            raise ValidationError("结果最多32个字符")

    def validate_since(self, field):
        if field.data:
            parse_moment(field.data)

    def validate_until(self, field):
        if not field.data:
            return
        until, lasts = parse_moment(field.data)
        try:
            since = parse_moment(self.since.data)[0] if self.since.data else None
        except ValidationError:
            return
        if since and until + lasts <= since:
            raise ValidationError("结束时间不能早于开始时间")

    def validate_before(self, field):
        if field.data and not (field.data.isdigit() and int(field.data) < 2**31):  # an `integer` id column
            raise ValidationError("分页位置无效，请重新查询")

    def query(self) -> AuditQuery:
        """The criteria typed (call after `validate()`): times from Asia/Shanghai; `until` includes the minute (or
        day) typed."""
        since = from_local(parse_moment(self.since.data)[0]) if self.since.data else None
        until = None
        if self.until.data:
            moment, lasts = parse_moment(self.until.data)
            until = from_local(moment + lasts)
        return AuditQuery(actor=self.actor.data or "", target=self.target.data or "", action=self.action.data or "",
                          result=self.result.data or "", since=since, until=until)

    def before_id(self) -> int | None:
        return int(self.before.data) if self.before.data else None
