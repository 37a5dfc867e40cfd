"""Credentials: PKCS#12, PEM and PKCS#11 (real SoftHSM2), and their failures."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from fixtures_pki import SoftHsmToken

from signers.credentials import (
    PemCredentials,
    Pkcs11Credentials,
    Pkcs12Credentials,
    open_signer,
    read_secret,
)
from signers.demo_pki import DemoPki
from signers.exceptions import CredentialsError


def _cn(signer: object) -> str:
    return str(signer.signing_cert.subject.native["common_name"])  # type: ignore[attr-defined]


def test_pkcs12_opens(demo_pki: DemoPki) -> None:
    creds = Pkcs12Credentials(demo_pki.pkcs12("maire-aniane"), demo_pki.passphrase)
    with open_signer(creds) as signer:
        assert _cn(signer) == "Élodie Carrière"
    assert demo_pki.passphrase not in repr(creds)


def test_pkcs12_wrong_passphrase(demo_pki: DemoPki) -> None:
    path = demo_pki.pkcs12("maire-aniane")
    with pytest.raises(CredentialsError, match="wrong passphrase") as err:
        with open_signer(Pkcs12Credentials(path, "not-it")):
            pass
    assert str(path) in str(err.value)


def test_pkcs12_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="cannot read"):
        with open_signer(Pkcs12Credentials(tmp_path / "absent.p12", "x")):
            pass


def test_pem_credentials(demo_pki: DemoPki, tmp_path: Path) -> None:
    key, cert, chain = pkcs12.load_key_and_certificates(
        demo_pki.pkcs12("caf-directeur").read_bytes(), demo_pki.passphrase.encode())
    assert key is not None and cert is not None
    key_file, chain_file = tmp_path / "k.pem", tmp_path / "c.pem"
    key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret")))
    chain_file.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM)
                                    for c in [cert, *chain]))
    with open_signer(PemCredentials(key_file, chain_file, "secret")) as signer:
        assert _cn(signer) == "Marie-Hélène Lefèvre"
    with pytest.raises(CredentialsError, match=str(key_file)):
        with open_signer(PemCredentials(key_file, chain_file, "wrong")):
            pass


def test_read_secret_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "pin.txt"
    secret.write_text("1234\n")
    assert read_secret(file=secret) == "1234"
    monkeypatch.setenv("CTG_PIN", "9876")
    assert read_secret(env="CTG_PIN") == "9876"
    monkeypatch.delenv("CTG_PIN")
    with pytest.raises(CredentialsError, match="CTG_PIN"):
        read_secret(env="CTG_PIN")
    with pytest.raises(CredentialsError, match="no terminal"):
        read_secret(prompt="PIN: ")


def _p11(token: SoftHsmToken, **kw: object) -> Pkcs11Credentials:
    args: dict[str, object] = {"module": token.module, "token_label": token.label,
                               "pin": token.pin, "key_label": token.key_label}
    args.update(kw)
    return Pkcs11Credentials(**args)  # type: ignore[arg-type]


def test_pkcs11_opens_softhsm(softhsm_token: SoftHsmToken) -> None:
    with open_signer(_p11(softhsm_token)) as signer:
        assert _cn(signer) == softhsm_token.subject.name
    with open_signer(_p11(softhsm_token, key_label=None, key_id=softhsm_token.key_id)) as s:
        assert _cn(s) == softhsm_token.subject.name


def test_pkcs11_wrong_pin(softhsm_token: SoftHsmToken) -> None:
    with pytest.raises(CredentialsError, match="wrong PIN for PKCS#11 token 'ctg-test'"):
        with open_signer(_p11(softhsm_token, pin="000000")):
            pass


def test_pkcs11_missing_key_token_module(softhsm_token: SoftHsmToken, tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="'absent'"):
        with open_signer(_p11(softhsm_token, key_label="absent")):
            pass
    with pytest.raises(CredentialsError, match="no PKCS#11 token labelled 'nope'"):
        with open_signer(_p11(softhsm_token, token_label="nope")):
            pass
    with pytest.raises(CredentialsError, match="module .* not found"):
        with open_signer(_p11(softhsm_token, module=tmp_path / "none.so")):
            pass
