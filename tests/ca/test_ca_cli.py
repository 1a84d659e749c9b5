"""`flask ca …` as an operator runs them: init (with the root key offline), revoke, the root's ceremonies."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import Encoding

from tests.ca.pki_support import make_csr
from wxbackend.ca.models import CrlNumber
from wxbackend.ca.service import CertSubject, issue_certificate
from wxbackend.core.times import utcnow


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


def test_ca_revoke_puts_the_serial_on_the_crl(app, client, demo_key):
    serial = demo_key.certificate.serial
    before = load_crl(client.get("/ca/crl").data)
    assert before.get_revoked_certificate_by_serial_number(int(serial, 16)) is None
    result = app.test_cli_runner().invoke(args=["ca", "revoke", serial, "--reason", "key_compromise"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{serial}: revoked"
    revoked = load_crl(client.get("/ca/crl").data).get_revoked_certificate_by_serial_number(int(serial, 16))
    assert revoked is not None
    assert revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise


def test_ca_revoke_without_a_reason_puts_no_reason_code(app, client, demo_key):
    serial = demo_key.certificate.serial
    result = app.test_cli_runner().invoke(args=["ca", "revoke", serial])
    assert result.exit_code == 0, result.output
    entry = load_crl(client.get("/ca/crl").data).get_revoked_certificate_by_serial_number(int(serial, 16))
    assert entry is not None
    assert list(entry.extensions) == []  # RFC 5280 §5.3.1: no reasonCode rather than "unspecified"


def crl_number(crl: x509.CertificateRevocationList) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def test_each_new_crl_takes_the_next_number_from_the_database(app, client, demo_key, db_session):
    first = load_crl(client.get("/ca/crl").data)
    assert load_crl(client.get("/ca/crl").data).public_bytes(Encoding.DER) == first.public_bytes(Encoding.DER)  # cached
    app.test_cli_runner().invoke(args=["ca", "revoke", demo_key.certificate.serial])  # a change: a new CRL
    second = load_crl(client.get("/ca/crl").data)
    assert crl_number(second) == crl_number(first) + 1
    assert db_session.scalar(sa.select(CrlNumber.last_number).where(CrlNumber.issuer == "issuing")) \
        == crl_number(second)


def test_offline_root_ceremony(app, client, db_session, tmp_path, monkeypatch):
    """init with the root key on removable media, the root CRL served, signed again at a ceremony, the issuing
    CA re-issued with its distribution point; without the media the root can sign nothing."""
    ca_dir, media = tmp_path / "ca", tmp_path / "media" / "root.key.pem"
    monkeypatch.setitem(app.config, "CA_DIR", str(ca_dir))
    app.extensions.pop("ca_authority", None)
    runner = app.test_cli_runner()
    try:
        created = runner.invoke(args=["ca", "init", "--root-key-out", str(media)])
        assert created.exit_code == 0, created.output
        assert f"root key written to {media}" in created.output
        assert not (ca_dir / "root.key.pem").exists() and media.exists()
        assert (ca_dir / "issuing.key.pem").exists()
        served = client.get("/ca/root.crl")
        assert served.status_code == 200 and served.mimetype == "application/pkix-crl"
        root = x509.load_pem_x509_certificate((ca_dir / "root.crt.pem").read_bytes())
        first = x509.load_der_x509_crl(served.data)
        assert first.is_signature_valid(root.public_key()) and len(first) == 0

        refused = runner.invoke(args=["ca", "root-crl"])
        assert refused.exit_code == 1 and "根CA私钥不可用" in refused.output
        signed = runner.invoke(args=["ca", "root-crl", "--root-key", str(media)])
        assert signed.exit_code == 0, signed.output
        assert crl_number(x509.load_der_x509_crl(client.get("/ca/root.crl").data)) == crl_number(first) + 1

        old = x509.load_pem_x509_certificate((ca_dir / "issuing.crt.pem").read_bytes())
        reissued = runner.invoke(args=["ca", "reissue-issuing", "--root-key", str(media)])
        assert reissued.exit_code == 0, reissued.output
        new = x509.load_der_x509_certificate(client.get("/ca/issuing.cer").data)
        assert new.serial_number != old.serial_number and new.public_key() == old.public_key()
        assert (ca_dir / f"issuing.{format(old.serial_number, 'X')}.crt.pem").exists()
        assert new.extensions.get_extension_for_class(x509.CRLDistributionPoints).value[0].full_name[0].value \
            == app.config["CA_ROOT_CRL_URL"]

        revoked = runner.invoke(args=["ca", "revoke-issuing", format(old.serial_number, "X"), "--reason",
                                      "superseded"])
        assert revoked.exit_code == 0, revoked.output
        runner.invoke(args=["ca", "root-crl", "--root-key", str(media)])
        listing = x509.load_der_x509_crl(client.get("/ca/root.crl").data)
        assert listing.get_revoked_certificate_by_serial_number(old.serial_number) is not None
        unknown = runner.invoke(args=["ca", "revoke-issuing", "ABCDEF"])
        assert unknown.exit_code == 1 and "没有找到该签发CA证书" in unknown.output
    finally:
        app.extensions.pop("ca_authority", None)


def test_root_crl_before_any_ceremony_is_a_clear_404(client, db_session):
    response = client.get("/ca/root.crl")
    assert response.status_code == 404
    assert "根CA尚未签发CRL" in response.get_data(as_text=True)


def test_an_existing_installation_gets_a_revocable_issuing_ca(app, client, db_session, tmp_path, monkeypatch):
    """A CA made before the root published a CRL: its issuing certificate has no distribution point. `init` says
    what to do; `reissue-issuing` signs one for the same key that has it, and what the CA issued still chains."""
    ca_dir = tmp_path / "ca"
    monkeypatch.setitem(app.config, "CA_DIR", str(ca_dir))
    app.extensions.pop("ca_authority", None)
    runner = app.test_cli_runner()
    try:
        assert runner.invoke(args=["ca", "init"]).exit_code == 0
        root_key = serialization.load_pem_private_key((ca_dir / "root.key.pem").read_bytes(),
                                                      app.config["CA_KEY_PASSPHRASE"].encode())
        current = x509.load_pem_x509_certificate((ca_dir / "issuing.crt.pem").read_bytes())
        old_style = x509.CertificateBuilder(subject_name=current.subject, issuer_name=current.issuer,
                                            public_key=current.public_key(), serial_number=x509.random_serial_number(),
                                            not_valid_before=current.not_valid_before_utc,
                                            not_valid_after=current.not_valid_after_utc,
                                            extensions=[e for e in current.extensions
                                                        if not isinstance(e.value, (x509.CRLDistributionPoints,
                                                                                    x509.CertificatePolicies))])
        (ca_dir / "issuing.crt.pem").write_bytes(old_style.sign(root_key, hashes.SHA256())
                                                 .public_bytes(serialization.Encoding.PEM))
        app.extensions.pop("ca_authority", None)
        issued = x509.load_pem_x509_certificate(issue_certificate(
            make_csr()[1], CertSubject("某某公司", "某某公司"), utcnow(), utcnow() + timedelta(days=30)).pem.encode())

        hint = runner.invoke(args=["ca", "init"])
        assert "run `flask ca reissue-issuing`" in hint.output
        assert runner.invoke(args=["ca", "reissue-issuing"]).exit_code == 0
        assert "reissue-issuing" not in runner.invoke(args=["ca", "init"]).output
        new = x509.load_der_x509_certificate(client.get("/ca/issuing.cer").data)
        assert new.extensions.get_extension_for_class(x509.CRLDistributionPoints)
        issued.verify_directly_issued_by(new)
    finally:
        app.extensions.pop("ca_authority", None)
