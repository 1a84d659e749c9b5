"""Reviewed applications in tests: an expired certificate's 编辑中 order, valid materials, scans made with Pillow,
and the steps a user takes up to 待审核 through the real services."""

from __future__ import annotations

import io
import struct

from PIL import Image

from tests.support.factories import bind, make_certificate, make_user
from wxbackend.agreements.service import SERVICE_AGREEMENT
from wxbackend.applications import face, service
from wxbackend.orders.service import create_order, mark_paid

ORGANISATION = "深圳某某科技有限公司"


def materials(**changes) -> dict[str, str]:
    values = {
        "org_name": ORGANISATION, "credit_code": "91350100M000100Y43", "province": "广东省", "city": "深圳市",
        "address": "南山区科技园1号", "legal_name": "王五", "legal_id_number": "11010519491231002X",
        "legal_mobile": "13800138000", "agent_name": "张三", "agent_id_number": "440106199003071231",
        "agent_mobile": "13900139000", "agent_email": "zhangsan@example.com", "agent_title": "行政主管",
        "bank_account_name": ORGANISATION, "bank_name": "中国工商银行", "bank_account": "6222021234567890123",
        "invoice_type": "none", "invoice_title": "", "invoice_tax_number": ""}
    values.update(changes)
    return values


def jpeg(size=(640, 480), exif: bool = False) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    out = io.BytesIO()
    if exif:
        data = Image.Exif()
        data[0x010F] = "SecretCam"  # Make
        data[0x8825] = {2: (22.0, 32.0, 1.0)}  # GPS latitude
        image.save(out, "JPEG", exif=data)
    else:
        image.save(out, "JPEG")
    return out.getvalue()


def bomb_gif(width: int = 30000, height: int = 30000) -> bytes:
    """A GIF of a few dozen bytes declaring width × height pixels (a decompression bomb)."""
    return (b"GIF89a" + struct.pack("<HH", width, height) + b"\x80\x00\x00" + b"\x00\x00\x00\xff\xff\xff"
            + b"," + struct.pack("<HHHH", 0, 0, width, height) + b"\x00" + b"\x02\x02\x44\x01\x00" + b";")


def big_bmp(megabytes: int = 3) -> bytes:
    side = int((megabytes * 1024 * 1024 / 3) ** 0.5) + 1
    out = io.BytesIO()
    Image.effect_noise((side, side), 64).convert("RGB").save(out, "BMP")
    return out.getvalue()


def expired_order(user=None, days: float = 10):
    user = user or make_user()
    certificate = make_certificate(ORGANISATION, expires_in_days=-days)
    bind(user, certificate)
    return create_order(user.id, certificate.id, 1, agreement_version=SERVICE_AGREEMENT.version)


def ready_application(order, **changes):
    """The application of `order` agreed, filled in and with both scans: ready to submit."""
    application = service.start(order.user_id, order.id)
    service.agree(order.user_id, application.id, True, True)
    service.save_materials(order.user_id, application.id, materials(**changes))
    service.add_upload(order.user_id, application.id, "form", jpeg())
    service.add_upload(order.user_id, application.id, "licence", jpeg((800, 600)))
    pass_liveness(order.user_id, application.id)
    if order.kind == "replacement":  # the new key's 邮寄地址, from 我的地址
        from tests.shipping.support import make_address
        from wxbackend.shipping.service import choose_address

        choose_address(order.user_id, order.id, make_address(order.user_id).id)
    return application


def pass_liveness(user_id: int, application_id: int):
    """ID photos, then the liveness check through the configured provider (`local` passes at once)."""
    service.add_upload(user_id, application_id, "id_front", jpeg((856, 540)))
    service.add_upload(user_id, application_id, "id_back", jpeg((856, 540)))
    face.start_liveness(user_id, application_id)
    return face.pull_liveness(user_id, application_id)


def paid_for_review(order, **changes):
    """Submitted and paid: 待审核, with its review request open."""
    application = ready_application(order, **changes)
    service.submit(order.user_id, application.id)
    assert mark_paid(order.id, "wechat", "test")
    return application


def make_user_verified(openid: str):
    """The user the dev sign-in made, identity-verified."""
    import sqlalchemy as sa

    from wxbackend.core.db import db
    from wxbackend.users.models import User

    user = db.session.scalar(sa.select(User).where(User.openid == openid))
    user.identity_verified = True
    db.session.flush()
    return user
