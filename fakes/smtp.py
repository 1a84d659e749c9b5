"""An SMTP sink on 127.0.0.1: accepts every mail (any login), keeps it, delivers it nowhere.

Tests start it in a thread (`SmtpSink().start()`), read `messages` (parsed `EmailMessage`s), and stop it to play
"the mail server is down" — `start()` again listens on the same port, "back up". `hold()` plays a server that
hangs: a client's DATA gets no answer (`held` is set) until `release()`, and the mail is then not accepted.
It speaks just enough ESMTP for smtplib: EHLO/HELO, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT (no STARTTLS).

Run alone for `make run`: `python -m fakes.smtp --port 1025 --maildir var/mail` prints each mail's recipients,
subject and links, and keeps it as an .eml file.
"""

from __future__ import annotations

import argparse
import re
import socketserver
import threading
import time
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

MAX_MESSAGE = 10 * 1024 * 1024


@dataclass
class Received:
    mail_from: str
    rcpt_to: list[str]
    raw: bytes
    message: EmailMessage = field(init=False)

    def __post_init__(self):
        self.message = BytesParser(policy=policy.default).parsebytes(self.raw)

    @property
    def text(self) -> str:
        body = self.message.get_body(("plain", "html"))
        return body.get_content() if body is not None else ""


class _Handler(socketserver.StreamRequestHandler):
    timeout = 30

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        sink: SmtpSink = self.server.sink  # type: ignore[attr-defined]
        self.reply("220 127.0.0.1 fake SMTP sink ready")
        mail_from, rcpt_to = "", []
        while True:
            line = self.rfile.readline(4096)
            if not line:
                return
            command = line.decode("utf-8", "replace").rstrip("\r\n")
            verb = command[:4].upper()
            if verb in ("EHLO", "HELO"):
                if verb == "EHLO":
                    self.wfile.write(b"250-127.0.0.1\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-AUTH PLAIN LOGIN\r\n")
                    self.reply(f"250 SIZE {MAX_MESSAGE}")
                else:
                    self.reply("250 127.0.0.1")
            elif verb == "AUTH":  # any credentials will do
                parts = command.split()
                mechanism = parts[1].upper() if len(parts) > 1 else ""
                if mechanism == "LOGIN":
                    prompts = ["334 UGFzc3dvcmQ6"] if len(parts) > 2 else ["334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6"]
                elif mechanism == "PLAIN":
                    prompts = [] if len(parts) > 2 else ["334 "]
                else:
                    self.reply("504 5.5.4 Unrecognized authentication type")
                    continue
                for prompt in prompts:
                    self.reply(prompt)
                    if not self.rfile.readline(4096):
                        return
                self.reply("235 2.7.0 Authentication successful")
            elif verb == "MAIL":
                mail_from, rcpt_to = _address(command), []
                self.reply("250 OK")
            elif verb == "RCPT":
                rcpt_to.append(_address(command))
                self.reply("250 OK")
            elif verb == "DATA":
                if not rcpt_to:
                    self.reply("503 5.5.1 RCPT first")
                    continue
                if sink.holding:
                    sink.held.set()
                    sink.released.wait(120)
                    return  # hung up without accepting anything
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                chunks, size = [], 0
                while True:
                    data = self.rfile.readline(MAX_MESSAGE)
                    if not data or data in (b".\r\n", b".\n"):
                        break
                    if data.startswith(b".."):
                        data = data[1:]
                    size += len(data)
                    chunks.append(data)
                if size > MAX_MESSAGE:
                    self.reply("552 5.3.4 Message too big")
                else:
                    sink.keep(Received(mail_from, rcpt_to, b"".join(chunks)))
                    self.reply("250 OK queued")
                mail_from, rcpt_to = "", []
            elif verb == "RSET":
                mail_from, rcpt_to = "", []
                self.reply("250 OK")
            elif verb == "NOOP":
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("502 5.5.2 Command not implemented")


def _address(command: str) -> str:
    found = re.search(r"<([^>]*)>", command)
    return found.group(1) if found else command.partition(":")[2].strip()


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class SmtpSink:
    """The sink. `port` 0 picks a free port on the first start; later starts reuse it."""

    def __init__(self, port: int = 0, on_message=None):
        self.port = port
        self.messages: list[Received] = []
        self.on_message = on_message
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.holding = False
        self.held = threading.Event()  # a client is waiting on a held DATA
        self.released = threading.Event()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def settings(self) -> dict:
        """The SMTP_* config keys that send mail here."""
        return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": self.port, "SMTP_USER": "", "SMTP_PASSWORD": "",
                "SMTP_STARTTLS": False, "SMTP_SSL": False}

    def start(self) -> SmtpSink:
        if self._server is not None:
            return self
        for attempt in range(50):  # the port may linger a moment after a stop
            try:
                self._server = _Server(("127.0.0.1", self.port), _Handler)
                break
            except OSError:
                if attempt == 49:
                    raise
                time.sleep(0.1)
        self._server.sink = self  # type: ignore[attr-defined]
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-smtp", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: connections are refused until `start()`."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._server = self._thread = None

    def hold(self) -> None:
        """Hang on every DATA from now on (the client waits; nothing is accepted) until `release()`."""
        self.released.clear()
        self.held.clear()
        self.holding = True

    def release(self) -> None:
        """Stop hanging: held clients are hung up on, new ones are served."""
        self.holding = False
        self.released.set()

    def keep(self, received: Received) -> None:
        with self._lock:
            self.messages.append(received)
        if self.on_message is not None:
            self.on_message(received)

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="fakes.smtp", description="SMTP sink on 127.0.0.1 for development")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--maildir", type=Path, default=Path("var/mail"), help="where each mail is kept (.eml)")
    args = parser.parse_args(argv)
    args.maildir.mkdir(parents=True, exist_ok=True)

    def show(received: Received) -> None:
        path = args.maildir / f"{time.strftime('%Y%m%d-%H%M%S')}-{len(sink.messages):04d}.eml"
        path.write_bytes(received.raw)
        links = re.findall(r"https?://\S+", received.text)
        print(f"mail to {', '.join(received.rcpt_to)}: {received.message['Subject']} ({path})", flush=True)
        for link in links:
            print(f"  {link}", flush=True)

    sink = SmtpSink(args.port, on_message=show).start()
    print(f"SMTP sink on 127.0.0.1:{sink.port}; mail kept in {args.maildir}/", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        sink.stop()


if __name__ == "__main__":
    main()
