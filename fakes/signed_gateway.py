"""The gateway side of the HMAC-signed JSON wire format (see wxbackend/integrations/signed_http.py), written out
again here on purpose: the fakes check our signatures with their own code, and sign their answers with it."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time

from flask import Request, Response

CLOCK_SKEW_SECONDS = 300


def _mac(key: str, parts: list[bytes]) -> str:
    return hmac.new(key.encode(), b"\n".join(parts), hashlib.sha256).hexdigest()


class SignedGateway:
    """Checks a request's signature (once per nonce) and signs answers (`forged=True`: with another key, an
    answer our adapter must refuse)."""

    def __init__(self, client_id: str, key: str):
        self.client_id, self.key = client_id, key
        self._nonces: set[str] = set()
        self._lock = threading.Lock()

    def refusal(self, request: Request) -> str | None:
        """Why the request is refused ("" never), or None when its signature is good."""
        timestamp = request.headers.get("X-Timestamp", "")
        nonce = request.headers.get("X-Nonce", "")
        if request.headers.get("X-Client-Id") != self.client_id:
            return "unknown client"
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > CLOCK_SKEW_SECONDS:
            return "timestamp out of range"
        expected = _mac(self.key, [request.method.encode(), request.path.encode(), timestamp.encode(),
                                   nonce.encode(), request.get_data()])
        if not hmac.compare_digest(request.headers.get("X-Signature", "").encode(), expected.encode()):
            return "bad signature"
        with self._lock:
            if not nonce or nonce in self._nonces:
                return "nonce replayed"
            self._nonces.add(nonce)
        return None

    def answer(self, body: dict, status: int = 200, *, forged: bool = False) -> Response:
        raw = json.dumps(body, ensure_ascii=False).encode()
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
        signature = _mac("not-the-key" if forged else self.key,
                         [str(status).encode(), timestamp.encode(), nonce.encode(), raw])
        return Response(raw, status=status, mimetype="application/json",
                        headers={"X-Timestamp": timestamp, "X-Nonce": nonce, "X-Signature": signature})
