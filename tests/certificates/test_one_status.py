"""The certificate's status is the one truth (issue 14): the CA's record of a customer's certificate changes only
through `certificates.revocation`, so nothing else can make the two disagree. Checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CA_WRITERS = {"revoke_certificate", "hold_certificate", "release_hold"}
# who may call them: the CA itself (its service and the CA_BACKEND interface over it) and the one operation of the
# certificates domain; renewal voids a certificate it issued that no customer ever installed (it has no certificate
# record yet) through the CA backend's `revoke`
ALLOWED = {"wxbackend/ca/service.py", "wxbackend/ca/backends.py", "wxbackend/certificates/revocation.py"}


def callers() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "wxbackend").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name in CA_WRITERS:
                    found.setdefault(str(path.relative_to(ROOT)), set()).add(name)
    return found


def test_only_the_certificates_domain_changes_the_ca_record_of_a_customer_certificate():
    found = callers()
    assert set(found) <= ALLOWED, {k: v for k, v in found.items() if k not in ALLOWED}
    assert found["wxbackend/certificates/revocation.py"] == CA_WRITERS


def test_renewal_voids_only_the_certificate_it_issued_for_the_order():
    source = (ROOT / "wxbackend/renewal/service.py").read_text(encoding="utf-8")
    calls = [line.strip() for line in source.splitlines() if "revoke(" in line and "import" not in line]
    assert calls == ['get_backend().revoke(issued.serial, "superseded", void=True)',  # its new key is gone
                     'get_backend().revoke(issued.serial, "key_compromise", void=True)']  # the key was reported lost
