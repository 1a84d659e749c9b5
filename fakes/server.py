"""Serving a fake on 127.0.0.1: in a thread (tests) or as its own process (`make run`)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server


@dataclass
class RunningFake:
    app: Flask
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/"

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)


def serve_in_thread(app: Flask, port: int = 0) -> RunningFake:
    """Start `app` on 127.0.0.1:`port` (0 = any free port) in a daemon thread, one thread per request."""
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=f"fake-{app.name}", daemon=True)
    thread.start()
    return RunningFake(app, server, thread)
