"""`flask ca init` as an operator runs it (revoking a customer's certificate: tests/certificates)."""

from __future__ import annotations

from cryptography import x509


def files_of(directory) -> dict:
    return {p.relative_to(directory): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_ca_init_creates_the_ca_once_and_a_second_run_changes_nothing(app, db_session, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "CA_DIR", str(tmp_path / "ca"))
    runner = app.test_cli_runner()
    first = runner.invoke(args=["ca", "init"])
    assert first.exit_code == 0, first.output
    assert first.output.startswith(f"CA created in {tmp_path / 'ca'}")
    created = files_of(tmp_path / "ca")
    assert created
    second = runner.invoke(args=["ca", "init"])
    assert second.exit_code == 0, second.output
    assert second.output.strip() == f"CA already present in {tmp_path / 'ca'}; nothing changed"
    assert files_of(tmp_path / "ca") == created


def load_crl(data: bytes) -> x509.CertificateRevocationList:
    return x509.load_pem_x509_crl(data) if data.startswith(b"-----") else x509.load_der_x509_crl(data)
