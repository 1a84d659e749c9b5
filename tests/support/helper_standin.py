"""FINAL_TRY and LOCKED: SoftHSM2 never reports them, so for these two states only the token layer is a thin
stand-in that reports those flags over a real SoftHSM2 token (everything else is the real helper and key)."""

from __future__ import annotations

import threading

from werkzeug.serving import make_server

from tests.conftest import PKCS11_MODULE, TICKET_PUBLIC_KEY, free_port
from ukey_helper.app import create_helper_app
from ukey_helper.config import HelperConfig
from ukey_helper.token import PresentToken, TokenLayer


class FlaggedToken:
    def __init__(self, token, extra_flags):
        self._token = token
        self.flags = int(token.flags) | extra_flags

    def __getattr__(self, name):
        return getattr(self._token, name)


class StandInLayer(TokenLayer):
    def __init__(self, modules, extra_flags):
        super().__init__(modules)
        self.extra_flags = extra_flags

    def present_tokens(self, rescan=True):
        return [PresentToken(FlaggedToken(t.token, self.extra_flags), t.module)
                for t in super().present_tokens(rescan)]


def serve_flagged_helper(origin: str, extra_flags: int):
    """The real helper app, its tokens reporting `extra_flags`, served on 127.0.0.1 from a thread; (server, port)."""
    port = free_port()
    cfg = HelperConfig.load(environ={"PKCS11_MODULE": PKCS11_MODULE, "HELPER_PORT": str(port),
                                     "HELPER_ALLOWED_ORIGINS": origin, "HELPER_TICKET_PUBLIC_KEYS": TICKET_PUBLIC_KEY})
    server = make_server("127.0.0.1", port, create_helper_app(cfg, tokens=StandInLayer(cfg.modules, extra_flags)),
                         threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, port
