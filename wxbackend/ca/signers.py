"""Where the issuing CA's private key lives. Both signers sign raw to-be-signed bytes with SHA256withRSA.

* `FileSigner` — an encrypted PKCS#8 key file (embedded default).
* `Pkcs11Signer` — a non-extractable key in a PKCS#11 HSM (SoftHSM2 in tests), via python-pkcs11.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pkcs11
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

log = logging.getLogger(__name__)
T = TypeVar("T")


class Signer(Protocol):
    def public_key(self) -> rsa.RSAPublicKey: ...

    def sign(self, data: bytes) -> bytes: ...


class FileSigner:
    """RSA key from a PEM file encrypted with a passphrase."""

    def __init__(self, key: rsa.RSAPrivateKey):
        self._key = key

    @classmethod
    def load(cls, path: Path, passphrase: str) -> FileSigner:
        key = serialization.load_pem_private_key(path.read_bytes(), passphrase.encode())
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{path} is not an RSA key")
        return cls(key)

    @staticmethod
    def create(path: Path, passphrase: str, bits: int = 3072) -> FileSigner:
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.BestAvailableEncryption(passphrase.encode())))
        path.chmod(0o600)
        return FileSigner(key)

    def public_key(self) -> rsa.RSAPublicKey:
        return self._key.public_key()

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())


# A token rescan, an HSM restart or a pulled token kills every session of the process: open a new one, once.
SESSION_LOST = (pkcs11.exceptions.SessionHandleInvalid, pkcs11.exceptions.SessionClosed,
                pkcs11.exceptions.DeviceRemoved, pkcs11.exceptions.TokenNotPresent,
                pkcs11.exceptions.TokenNotRecognised, pkcs11.exceptions.UserNotLoggedIn)


class Pkcs11Signer:
    """RSA key on a PKCS#11 token found by token label and key label. One session per signer, used under a lock;
    when the HSM has lost it (SessionHandleInvalid, DeviceRemoved, TokenNotPresent…) the signer opens a new
    session and tries once more, so a restarted HSM does not need a restarted process."""

    def __init__(self, module: str, token_label: str, pin: str, key_label: str):
        self._pkcs11 = pkcs11
        self._lib = pkcs11.lib(module)
        self._token_label = token_label
        self._pin = pin
        self._key_label = key_label
        self._lock = threading.Lock()
        self._session = None
        self.reopened = 0  # sessions opened again after a loss (for logs and tests)

    def _open(self):
        if self._session is None:
            token = self._lib.get_token(token_label=self._token_label)
            try:
                self._session = token.open(user_pin=self._pin)
            except self._pkcs11.exceptions.UserAlreadyLoggedIn:
                # PKCS#11 login is per application: another session of this process already logged in.
                self._session = token.open()
        return self._session

    def _forget_session(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            try:
                session.close()
            except pkcs11.exceptions.PKCS11Error:
                pass  # the handle is dead already: that is why we are here

    def _with_session(self, operation: Callable[[Any], T]) -> T:
        with self._lock:
            try:
                return operation(self._open())
            except SESSION_LOST as lost:
                log.warning("HSM session lost (%s); opening a new session and trying once more",
                            type(lost).__name__)
                self._forget_session()
                self.reopened += 1
                return operation(self._open())

    def public_key(self) -> rsa.RSAPublicKey:
        def read(session) -> rsa.RSAPublicKey:
            pub = session.get_key(object_class=ObjectClass.PUBLIC_KEY, key_type=KeyType.RSA, label=self._key_label)
            return rsa.RSAPublicNumbers(int.from_bytes(pub[Attribute.PUBLIC_EXPONENT], "big"),
                                        int.from_bytes(pub[Attribute.MODULUS], "big")).public_key()

        return self._with_session(read)

    def sign(self, data: bytes) -> bytes:
        def sign(session) -> bytes:
            private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, key_type=KeyType.RSA,
                                      label=self._key_label)
            return private.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS)

        return self._with_session(sign)

    @staticmethod
    def generate(module: str, token_label: str, pin: str, key_label: str, bits: int = 3072) -> Pkcs11Signer:
        """Make the issuing key pair inside the HSM (sensitive, never extractable)."""

        token = pkcs11.lib(module).get_token(token_label=token_label)
        with token.open(rw=True, user_pin=pin) as session:
            session.generate_keypair(KeyType.RSA, bits, store=True, label=key_label,
                                     private_template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False})
        return Pkcs11Signer(module, token_label, pin, key_label)
