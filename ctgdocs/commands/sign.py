"""``ctg sign`` and ``ctg seal``: sign one signatory's field, or certify with the Caf seal."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from signers.exceptions import SigningRefused
from signers.model import ExpectedSigner

from ..exceptions import ExitCode
from ..signatories import SEAL_FIELD

if TYPE_CHECKING:  # pyHanko is slow to import: the handlers import it when they run
    from signers.credentials import Credentials, Pkcs11Credentials
    from signers.sign import SignResult



def register(sub: Any) -> None:
    """Add ``sign`` and ``seal`` to ``sub``."""
    p = sub.add_parser("sign", help="sign one signatory's field of the convention package")
    p.add_argument("package", type=Path, help="the convention package (PDF)")
    p.add_argument("--as", dest="signatory", required=True,
                   help="signatory id = field name, e.g. maire-gignac")
    _common(p)
    p.set_defaults(run=run_sign)

    s = sub.add_parser("seal", help="certify the package with the organisation seal "
                       "(before any person signs)")
    s.add_argument("package", type=Path, help="the convention package (PDF)")
    s.add_argument("--field", default=SEAL_FIELD,
                   help="the (invisible) seal field (default %(default)s)")
    _common(s)
    s.set_defaults(run=run_seal)


def _common(p: argparse.ArgumentParser) -> None:
    add_credential_arguments(p)
    p.add_argument("--tsa", metavar="URL", default=os.environ.get("CTGDOCS_TSA"),
                   help="RFC 3161 timestamp service (PAdES B-T; default: $CTGDOCS_TSA); "
                   "without it the signature is only B-B")
    p.add_argument("--data", type=Path, help="convention YAML giving the expected signer "
                   "(default: build.json next to the package)")
    p.add_argument("--trust", type=Path, action="append", default=[],
                   help="trust anchor (PEM) the earlier signatures must chain to")
    p.add_argument("-o", "--output", type=Path,
                   help="signed file (default: sign the package in place)")


def add_credential_arguments(p: argparse.ArgumentParser, title: str = "") -> None:
    """The credential options (PKCS#12, PEM, PKCS#11) that
    :func:`credentials_from_args` reads; ``ctg sign``, ``ctg seal`` and ``ctg
    sign-remote`` share them."""
    c = p.add_argument_group(title or "credentials (one of PKCS#12, PEM, PKCS#11)")
    c.add_argument("--pkcs12", type=Path, help="PKCS#12 file (.p12/.pfx)")
    c.add_argument("--key", type=Path, help="PEM private key (with --chain)")
    c.add_argument("--chain", type=Path, help="PEM certificates, signer's first")
    c.add_argument("--passphrase-env", metavar="VAR", help="passphrase from this variable")
    c.add_argument("--passphrase-file", type=Path, help="passphrase from this file")
    c.add_argument("--pkcs11-module", type=Path, help="PKCS#11 module (.so)")
    c.add_argument("--token-label", help="PKCS#11 token label")
    c.add_argument("--key-label", help="label of the key on the token")
    c.add_argument("--key-id", help="CKA_ID of the key on the token (hex)")
    c.add_argument("--cert-label", help="label of the certificate (default: the key's)")
    c.add_argument("--pin-env", metavar="VAR", help="token PIN from this variable")
    c.add_argument("--pin-file", type=Path, help="token PIN from this file")


def credentials_from_args(args: argparse.Namespace) -> Credentials:
    """The credentials selected on the command line (secrets read now)."""
    from signers.credentials import PemCredentials, Pkcs12Credentials
    if args.pkcs11_module:
        return _pkcs11(args)
    if args.pkcs12:
        return Pkcs12Credentials(args.pkcs12, _passphrase(args, f"Passphrase of "
                                                               f"{args.pkcs12}: "))
    if args.key and args.chain:
        return PemCredentials(args.key, args.chain,
                              _passphrase(args, f"Passphrase of {args.key}: ", optional=True))
    raise SigningRefused("no credentials: give --pkcs12 F, --key K --chain C, or "
                         "--pkcs11-module M --token-label L --key-label K")


def _passphrase(args: argparse.Namespace, prompt: str, optional: bool = False) -> str | None:
    from signers.credentials import read_secret
    if args.passphrase_file or args.passphrase_env:
        return read_secret(env=args.passphrase_env, file=args.passphrase_file)
    if optional and not sys.stdin.isatty():
        return None
    return read_secret(prompt=prompt)


def _pkcs11(args: argparse.Namespace) -> Pkcs11Credentials:
    from signers.credentials import Pkcs11Credentials, read_secret
    if not args.token_label or not (args.key_label or args.key_id):
        raise SigningRefused("PKCS#11 needs --token-label and --key-label or --key-id")
    try:
        key_id = bytes.fromhex(args.key_id) if args.key_id else None
    except ValueError as e:
        raise SigningRefused(f"--key-id {args.key_id!r} is not hexadecimal") from e
    pin = read_secret(prompt=f"PIN of token {args.token_label}: ", env=args.pin_env,
                      file=args.pin_file)
    return Pkcs11Credentials(args.pkcs11_module, args.token_label, pin=pin,
                             key_label=args.key_label, key_id=key_id,
                             cert_label=args.cert_label)


# --------------------------------------------------------------------------- expected


def expected_signer(package: Path, field: str, data: Path | None,
                    seal: bool = False) -> ExpectedSigner:
    """Who must sign ``field``: from the convention data, else from build.json."""
    from ..signatories import expected_for_package

    expected = expected_for_package(package, data, seal_field=seal or None)
    if expected is None:
        raise SigningRefused(f"{package}: cannot tell who must sign {field!r}: give --data "
                             "convention.yaml or keep build.json next to the package")
    for signer in expected:
        if signer.field == field:
            return signer
    source = data or package.parent / "build.json"
    raise SigningRefused(f"{source}: no signatory {field!r} in this convention; the "
                         f"signatories are: {', '.join(s.field for s in expected)}")


# --------------------------------------------------------------------------- run


def _trust(paths: list[Path]) -> list[Any]:
    from pyhanko.keys import load_certs_from_pemder

    return list(load_certs_from_pemder([str(p) for p in paths])) if paths else []


def run_sign(args: argparse.Namespace) -> int:
    """``ctg sign PACKAGE --as SIGNATORY …``."""
    from signers.sign import sign_field

    from ..wording import STAMP_WORDING

    _start(args)
    expected = expected_signer(args.package, args.signatory, args.data)
    result = sign_field(args.package, args.output or args.package, args.signatory,
                        credentials_from_args(args), expected=expected, tsa_url=args.tsa,
                        trust_roots=_trust(args.trust), wording=STAMP_WORDING)
    _report(result)
    return ExitCode.OK


def run_seal(args: argparse.Namespace) -> int:
    """``ctg seal PACKAGE …``."""
    from signers.sign import seal_package

    from ..signatories import expected_for_package
    from ..wording import SEAL_REASON, STAMP_WORDING

    _start(args)
    everyone = expected_for_package(args.package, args.data, seal_field=True) or []
    expected = next((s for s in everyone if s.field == args.field), None)
    result = seal_package(args.package, args.output or args.package,
                          credentials_from_args(args), field=args.field,
                          expected=expected, tsa_url=args.tsa,
                          trust_roots=_trust(args.trust), reason=SEAL_REASON,
                          wording=STAMP_WORDING)
    _report(result)
    return ExitCode.OK


def _start(args: argparse.Namespace) -> None:
    """Turn the speed-ups on (unless SIGNERS_SPEEDUPS=off), then refuse a package that
    is missing or not a readable PDF, and an output that is a directory, before any
    passphrase or PIN is asked for."""
    from signers import speedups
    from signers.document import read_pdf
    from signers.exceptions import FileAccessError

    speedups.enable()
    read_pdf(args.package, SigningRefused)
    if args.output is not None and args.output.is_dir():
        raise FileAccessError(f"{args.output}: is a directory; give the path of the "
                              "signed file to write")


def _report(result: SignResult) -> None:
    kind = "certified" if result.certified else "signed"
    print(f"{result.path}: field {result.field} {kind} by {result.signer} "
          f"({result.level}, {result.seconds:.2f} s)")
    for warning in result.warnings:
        print(f"ctg: warning: {warning}", file=sys.stderr)
