"""Driving a fake outside service from a test through its `/_fake/…` control endpoints."""

from __future__ import annotations

from dataclasses import dataclass

import requests


@dataclass
class FakeServer:
    base_url: str

    def control(self, method: str, path: str, **kw):
        response = requests.request(method, self.base_url.rstrip("/") + "/_fake/" + path, timeout=30, **kw)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self.control("POST", "reset")

    def calls(self) -> dict[str, int]:
        return self.control("GET", "calls")
