"""JSON over HTTP signed both ways with a shared HMAC-SHA256 key: the wire format of the bank payout and SMS
gateways (`bank_payout.py`, `sms.py`).

A request carries `X-Client-Id`, `X-Timestamp` (Unix seconds), `X-Nonce` and `X-Signature`, the lower-case hex
HMAC-SHA256 of `METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nBODY`. The answer carries `X-Timestamp`, `X-Nonce` and
`X-Signature` over `STATUS\\nTIMESTAMP\\nNONCE\\nBODY`. Either side refuses a signature that does not match or a
timestamp more than 300 seconds away; an answer that fails the check is treated as no answer (UpstreamError).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from urllib.parse import urlsplit

import requests

from wxbackend.core.errors import UpstreamError

CLOCK_SKEW_SECONDS = 300


def signature(key: str, *parts: str | bytes) -> str:
    message = b"\n".join(part if isinstance(part, bytes) else part.encode() for part in parts)
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


class SignedJsonClient:
    """Calls one gateway; every failure (network, timeout, bad signature, error answer) is an UpstreamError whose
    message is `unavailable` (Chinese, shown to the user), with the gateway's own message logged by the caller."""

    def __init__(self, base_url: str, client_id: str, key: str, timeout: float, unavailable: str):
        self.base_url, self.client_id, self.key = base_url.rstrip("/"), client_id, key
        self.timeout, self.unavailable = timeout, unavailable

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        """Send one signed request; returns (HTTP status, JSON answer) for a correctly signed answer of status
        200 or 4xx. 5xx, 401/403, timeouts and unsigned or badly signed answers raise UpstreamError."""
        url = self.base_url + path
        raw = b"" if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
        signed_path = urlsplit(url).path
        headers = {"X-Client-Id": self.client_id, "X-Timestamp": timestamp, "X-Nonce": nonce,
                   "X-Signature": signature(self.key, method, signed_path, timestamp, nonce, raw)}
        if body is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
        try:
            response = requests.request(method, url, data=raw or None, headers=headers, timeout=self.timeout)
        except requests.RequestException as failed:
            raise UpstreamError(self.unavailable) from failed
        if response.status_code >= 500 or response.status_code in (401, 403):  # 401/403: our keys are wrong
            raise UpstreamError(self.unavailable)
        self._check_answer(response)
        try:
            answer = response.json()
        except ValueError as failed:
            raise UpstreamError(self.unavailable) from failed
        if not isinstance(answer, dict):
            raise UpstreamError(self.unavailable)
        return response.status_code, answer

    def _check_answer(self, response: requests.Response) -> None:
        timestamp = response.headers.get("X-Timestamp", "")
        nonce = response.headers.get("X-Nonce", "")
        given = response.headers.get("X-Signature", "")
        expected = signature(self.key, str(response.status_code), timestamp, nonce, response.content)
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > CLOCK_SKEW_SECONDS:
            raise UpstreamError(self.unavailable)
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise UpstreamError(self.unavailable)
