"""Chain checks the way a relying party does them: cryptography's signature checks and `openssl verify`."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def verify_chain(cert: x509.Certificate, issuing: x509.Certificate, root: x509.Certificate) -> str:
    """Raise unless cert ← issuing ← root verifies; returns openssl's verdict line."""
    cert.verify_directly_issued_by(issuing)
    issuing.verify_directly_issued_by(root)
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for name, c in (("leaf", cert), ("issuing", issuing), ("root", root)):
            paths[name] = Path(tmp) / f"{name}.pem"
            paths[name].write_bytes(pem(c))
        done = subprocess.run(["openssl", "verify", "-CAfile", str(paths["root"]), "-untrusted",
                               str(paths["issuing"]), str(paths["leaf"])], capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(f"openssl verify failed: {done.stdout} {done.stderr}")
    return done.stdout.strip()
