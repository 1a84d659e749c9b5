"""JSON shapes of the signed-in user."""

from __future__ import annotations

from marshmallow import Schema, fields


class MeSchema(Schema):
    id = fields.Integer()
    nickname = fields.String()
