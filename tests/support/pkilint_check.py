"""Linting with pkilint (0.13.3), a linter nobody on the project wrote: its own command-line programs
(`lint_pkix_cert`, `lint_crl`, `lint_pkix_signer_signee_cert_chain`) run in this process, at severity WARNING,
so any finding of WARNING or ERROR fails."""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pkilint.bin import lint_crl, lint_pkix_cert, lint_pkix_signer_signee_cert_chain


def _der(document: x509.Certificate | x509.CertificateRevocationList | bytes) -> bytes:
    return document if isinstance(document, bytes) else document.public_bytes(serialization.Encoding.DER)


def _run(main, args: list[str], *documents) -> str:
    """Run a pkilint program on DER files; return its findings (empty when it found nothing)."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for number, document in enumerate(documents):
            path = Path(tmp) / f"document{number}.der"
            path.write_bytes(_der(document))
            paths.append(str(path))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main([*args, "-s", "WARNING", *paths])
    findings = out.getvalue().strip()
    assert (code == 0) == (not findings), (code, findings)
    return findings


def lint_certificate(certificate: x509.Certificate) -> str:
    """RFC 5280 certificate linter findings of WARNING and above."""
    return _run(lint_pkix_cert.main, ["lint"], certificate)


def lint_revocation_list(crl: x509.CertificateRevocationList | bytes, *, authority: bool = False) -> str:
    """RFC 5280 CRL linter findings (a CRL, or an ARL for a CRL of CA certificates)."""
    return _run(lint_crl.main, ["lint", "-t", "ARL" if authority else "CRL", "-p", "PKIX"], crl)


def lint_chain(issuer: x509.Certificate, subject: x509.Certificate) -> str:
    """Issuer/subject chain linter findings (names, key identifiers, policies, the signature)."""
    return _run(lint_pkix_signer_signee_cert_chain.main, ["lint"], issuer, subject)
