"""Identity providers behind one interface, chosen by IDENTITY_PROVIDER: `local` (embedded default: the ID
number's GB 11643 check character and birth date, the mobile's form) and `http` (a verification service that
compares name, ID number and mobile with authoritative records)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import requests
from flask import current_app

from wxbackend.core.errors import UpstreamError


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str = ""


class IdentityProvider(Protocol):
    name: str

    def verify(self, name: str, id_number: str, mobile: str) -> Verdict: ...


class LocalProvider:
    """Only local validation (done before any provider is asked): always passes what reached it."""

    name = "local"

    def verify(self, name: str, id_number: str, mobile: str) -> Verdict:
        return Verdict(True)


class HttpProvider:
    """POST {name, id_number, mobile} as JSON with a bearer key; answers {"result": "match"|"mismatch", "reason"}."""

    name = "http"

    def __init__(self, url: str, api_key: str, timeout: float):
        self.url, self.api_key, self.timeout = url, api_key, timeout

    def verify(self, name: str, id_number: str, mobile: str) -> Verdict:
        try:
            response = requests.post(self.url, json={"name": name, "id_number": id_number, "mobile": mobile},
                                     headers={"Authorization": f"Bearer {self.api_key}"}, timeout=self.timeout)
            response.raise_for_status()
            answer = response.json()
        except (requests.RequestException, ValueError) as failed:
            raise UpstreamError("身份核验服务暂时不可用，请稍后再试") from failed
        if answer.get("result") == "match":
            return Verdict(True)
        return Verdict(False, str(answer.get("reason") or "身份信息不一致"))


def provider() -> IdentityProvider:
    cfg = current_app.config
    if cfg["IDENTITY_PROVIDER"] == "local":
        return LocalProvider()
    if cfg["IDENTITY_PROVIDER"] == "http":
        return HttpProvider(cfg["IDENTITY_PROVIDER_URL"], cfg["IDENTITY_PROVIDER_KEY"], 10)
    raise ValueError(f"unknown IDENTITY_PROVIDER {cfg['IDENTITY_PROVIDER']!r}")
