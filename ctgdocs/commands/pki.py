"""``ctg demo-pki``, ``ctg demo-revoke`` and ``ctg demo-services``: a demonstration PKI."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from signers.model import DEFAULT_SERVICES_URL

from ..exceptions import ExitCode, InputError


def register(sub: Any) -> None:
    """Add the demonstration PKI subcommands to ``sub``."""
    p = sub.add_parser("demo-pki", help="create a DEMONSTRATION PKI (no legal value): one "
                       "certificate per signatory, the Caf seal, TSA, OCSP, CRLs")
    p.add_argument("data", help="convention YAML file")
    p.add_argument("-o", "--output", required=True, help="folder to create")
    p.add_argument("--services-url", default=DEFAULT_SERVICES_URL,
                   help="where ctg demo-services will listen (default %(default)s)")
    p.set_defaults(run=run_demo_pki)

    r = sub.add_parser("demo-revoke", help="revoke one certificate of a demonstration PKI")
    r.add_argument("pki", help="the demonstration PKI folder")
    r.add_argument("subject", help="signatory id, e.g. maire-gignac")
    r.set_defaults(run=run_demo_revoke)

    s = sub.add_parser("demo-services", help="run the TSA / OCSP / CRL services of a "
                       "demonstration PKI on 127.0.0.1 until Ctrl-C")
    s.add_argument("pki", help="the demonstration PKI folder")
    s.add_argument("--port", type=int, default=None,
                   help="TCP port (default: the one in the certificates; 0: any "
                   "free port, printed at start)")
    s.set_defaults(run=run_demo_services)


def run_demo_pki(args: argparse.Namespace) -> int:
    """``ctg demo-pki DATA -o DIR``."""
    from signers.demo_pki import create_demo_pki

    from ..demo import demo_subjects
    from ..load import load_convention

    people, seal = demo_subjects(load_convention(args.data))
    pki = create_demo_pki(people, args.output, organisation_seal=seal,
                          services_url=args.services_url)
    print(f"{pki.directory}: {len(pki.subjects)} demonstration certificates "
          f"(PKCS#12 passphrase: {pki.passphrase}; see README.txt)")
    return ExitCode.OK


def run_demo_revoke(args: argparse.Namespace) -> int:
    """``ctg demo-revoke DIR SUBJECT``."""
    from signers.demo_pki import revoke
    try:
        revoke(args.pki, args.subject)
    except (KeyError, FileNotFoundError) as e:
        print(f"ctg: error: {args.subject}: no such certificate in {args.pki} ({e})",
              file=sys.stderr)
        return ExitCode.USAGE
    print(f"{args.subject}: revoked (CRL rewritten, OCSP answers 'revoked')")
    return ExitCode.OK


def run_demo_services(args: argparse.Namespace) -> int:
    """``ctg demo-services DIR [--port N]``: foreground until Ctrl-C."""
    from signers.demo_pki import load_demo_pki
    from signers.services import make_server

    try:
        pki = load_demo_pki(args.pki)
    except FileNotFoundError as e:
        raise InputError(f"{args.pki}: not a demonstration PKI folder ({e.strerror}: "
                         f"{e.filename}); create one with ctg demo-pki") from e
    port = args.port if args.port is not None else int(pki.services_url.rsplit(":", 1)[1])
    try:
        server = make_server(pki.directory, port)
    except OSError as e:
        print(f"ctg: error: cannot listen on 127.0.0.1:{port} ({e.strerror}); "
              "choose another --port", file=sys.stderr)
        return ExitCode.USAGE
    print(f"demonstration services on http://127.0.0.1:{server.server_address[1]} "
          "(tsa, ocsp, crl); Ctrl-C to stop", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        return ExitCode.OK
    finally:
        server.server_close()
    return ExitCode.OK
