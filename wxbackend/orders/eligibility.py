"""Is this certificate (or 应用) renewable, and how — one function every page and the API use (DESIGN §3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app

from wxbackend.ca.service import issuing_not_after
from wxbackend.certificates.models import CertApp, Certificate, CertificateStatus
from wxbackend.core.times import SHANGHAI, utcnow
from wxbackend.orders.models import RenewalPath


@dataclass(frozen=True)
class Eligibility:
    """`path` is None when the certificate cannot be renewed online; `code` and `message` say why."""

    code: str
    message: str
    path: RenewalPath | None = None
    opens_at: datetime | None = None

    @property
    def renewable(self) -> bool:
        return self.path is not None


def local_date(value: datetime) -> str:
    return value.astimezone(SHANGHAI).strftime("%Y年%m月%d日")


def check_eligibility(certificate: Certificate, app: CertApp | None = None,
                      now: datetime | None = None) -> Eligibility:
    """The renewal path of `certificate` (or of its 应用 `app`) at `now`, with a reason code and message:

    - `on_hold` / `revoked` / `superseded`: not online (withdraw the hold or apply for a replacement; renew the
      newest certificate of the lineage). The certificate's own status is the one truth (certificates.revocation);
    - `not_yet`: before the window, which opens RENEW_WINDOW_DAYS before not_after (`opens_at`);
    - `issuer_ending`: even one more year would outlast the issuing CA's certificate: not online;
    - `window_open`: online renewal;
    - `expired_reviewed`: expired up to RENEW_EXPIRED_MAX_DAYS: the reviewed path (materials and audit);
    - `expired_too_long`: longer expired: not online, apply at a counter.
    """
    now = now or utcnow()
    cfg = current_app.config
    if certificate.status == CertificateStatus.ON_HOLD:
        return Eligibility("on_hold", "该证书已挂失，不能续期；钥匙找到后可在证书详情中解除挂失，或办理补办")
    if certificate.status == CertificateStatus.REVOKED:
        return Eligibility("revoked", "该证书已吊销，不能续期，请办理补办")
    if certificate.status == CertificateStatus.SUPERSEDED:
        return Eligibility("superseded", "该证书已有更新的证书，请续期最新的证书")
    not_after = app.expires_at if app is not None else certificate.not_after
    if app is not None and certificate.not_after <= now:
        return Eligibility("certificate_expired", "证书已过期，请先续期证书，再续期应用")
    opens_at = not_after - timedelta(days=cfg["RENEW_WINDOW_DAYS"])
    if now < opens_at:
        return Eligibility("not_yet", f"尚未到续期时间，{local_date(opens_at)}起可在线续期", opens_at=opens_at)
    issuer_ends = issuing_not_after(cfg) if app is None else None
    if issuer_ends is not None and now <= not_after and add_years(not_after, 1) > issuer_ends:
        return Eligibility("issuer_ending",
                           f"签发机构证书将于{local_date(issuer_ends)}到期，暂不能在线续期，请联系客服")
    if now <= not_after:
        return Eligibility("window_open", f"可在线续期，有效期至{local_date(not_after)}", RenewalPath.ONLINE)
    if app is not None:
        return Eligibility("app_expired", "应用已过期，请联系客服办理")
    if now - not_after <= timedelta(days=cfg["RENEW_EXPIRED_MAX_DAYS"]):
        return Eligibility("expired_reviewed", f"证书已于{local_date(not_after)}过期，续期需提交资料并经审核",
                           RenewalPath.REVIEWED)
    return Eligibility("expired_too_long",
                       f"证书已过期超过{cfg['RENEW_EXPIRED_MAX_DAYS']}天，不能在线续期，请到柜台办理")


def add_years(moment: datetime, years: int) -> datetime:
    """`moment` + `years` calendar years (29 February becomes 28 February)."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, day=28)


def max_years_within_issuer(not_after: datetime, limit: int) -> int:
    """How many of `limit` years a renewal from `not_after` may buy without outlasting the issuing CA."""
    issuer_ends = issuing_not_after(current_app.config)
    if issuer_ends is None:
        return limit
    return max((n for n in range(0, limit + 1) if add_years(not_after, n) <= issuer_ends), default=0)


def new_validity(not_after: datetime, years: int) -> datetime:
    """The renewed not_after: the old one + years (renewing early loses nothing, late gains nothing)."""
    return add_years(not_after, years)
