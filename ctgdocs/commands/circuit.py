"""``ctg circuit …`` (start, serve, status, remind, cancel, reopen, replace, journal,
export) and ``ctg sign-remote``: the signing circuit's command line."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..exceptions import CircuitError, ExitCode
from .sign import add_credential_arguments

if TYPE_CHECKING:
    from signers.circuit.engine import CircuitEngine

    from ..circuit.settings import CircuitSettings


def register(sub: Any) -> None:
    """Add ``circuit`` and ``sign-remote`` to ``sub``."""
    p = sub.add_parser("circuit", help="collect the signatures: the signing circuit",
                       description="The signing circuit: invitations, uploads, remote "
                       "signatures, reminders, journal. Store: --store DIR or "
                       "postgresql://… (default $CTGDOCS_STORE, else "
                       "~/.local/share/ctgdocs/circuits).")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    _start(actions)
    _serve(actions)
    s = _action(actions, "status", "the state of one circuit, or the list of circuits",
                run_status, circuit=False)
    s.add_argument("--json", action="store_true", help="print JSON")
    _action(actions, "remind", "send the reminders that are due (cron-friendly)", run_remind)
    _action(actions, "cancel", "cancel a circuit (final)", run_cancel)
    r = _action(actions, "reopen", "reopen a declined or expired circuit", run_reopen)
    r.add_argument("--deadline", type=_date, help="new deadline YYYY-MM-DD")
    _replace(actions)
    j = _action(actions, "journal", "print, write or verify the circuit's journal",
                run_journal)
    j.add_argument("--verify", action="store_true", help="check the chain and the "
                   "timestamp tokens (offline) and name the first broken event")
    j.add_argument("-o", "--output", type=Path, metavar="FILE.jsonl",
                   help="write the journal (and its tokens beside it, in journal/)")
    j.add_argument("--trust", type=Path, action="append", metavar="ROOT.pem",
                   help="trust anchor of the timestamp authority (repeatable)")
    e = _action(actions, "export", "write the current PDF, the journal and its "
                "timestamp tokens, and the expected signers into a folder", run_export)
    e.add_argument("-o", "--output", type=Path, required=True, metavar="DIR")
    _sign_remote(sub)


def _action(actions: Any, name: str, help_text: str, run: Any,
            circuit: bool = True) -> argparse.ArgumentParser:
    p = actions.add_parser(name, help=help_text, description=help_text)
    p.add_argument("circuit", nargs=None if circuit else "?", metavar="CIRCUIT",
                   help="circuit id")
    _store(p)
    p.set_defaults(run=run)
    return p


def _store(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", metavar="DIR|URL", help="store folder or postgresql:// URL "
                   "(default $CTGDOCS_STORE, else ~/.local/share/ctgdocs/circuits)")
    p.add_argument("--smtp", metavar="URL", help="send mails via smtp://user@host:port "
                   "(password in $CTGDOCS_SMTP_PASSWORD); default: the store's outbox/")


def _start(actions: Any) -> None:
    p = actions.add_parser("start", help="start the circuit of a built package",
                           description="Start the signing circuit of a built package: "
                           "the signatories in stages, each invited when their stage "
                           "opens. Prints every link once (the store keeps only hashes).")
    p.add_argument("package", type=Path, help="the built package (convention-package.pdf)")
    p.add_argument("--data", type=Path, required=True, help="the convention YAML")
    _store(p)
    p.add_argument("--base-url", help="public URL of the service, for the links "
                   "(default $CTGDOCS_BASE_URL or http://127.0.0.1:8000)")
    p.add_argument("--deadline", type=_date, help="last day to sign, YYYY-MM-DD "
                   "(default: 30 days from today)")
    p.add_argument("--id", dest="circuit_id", help="circuit id (default: convention id "
                   "and a random suffix)")
    p.add_argument("--coordinator-name", help="coordinator (default: signing.circuit."
                   "coordinator in the data)")
    p.add_argument("--coordinator-email", help="the coordinator's e-mail address")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run_start)


def _serve(actions: Any) -> None:
    p = actions.add_parser("serve", help="run the circuit service in the foreground",
                           description="Run the API (and the pages) with uvicorn until "
                           "SIGTERM or Ctrl-C. Prints the URL it listens on (--port 0: "
                           "any free port).")
    _store(p)
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8000; 0: any free port)")
    p.add_argument("--trust", type=Path, action="append", metavar="ROOT.pem",
                   help="trust anchor of the acceptance check (repeatable)")
    p.add_argument("--tsa", metavar="URL", help="RFC 3161 timestamp authority (remote "
                   "signatures B-T, journal timestamps)")
    p.add_argument("--max-upload-mb", type=float, help="upload size limit (default 50)")
    p.add_argument("--base-url", help="public URL of the service, for the links in mails")
    p.set_defaults(run=run_serve)


def _replace(actions: Any) -> None:
    p = _action(actions, "replace", "name another person for a signatory (e.g. a deputy "
                "by delegation); the old link dies, a new one is printed", run_replace)
    p.add_argument("signatory", metavar="SIGNATORY", help="signatory id, e.g. maire-gignac")
    p.add_argument("--name", required=True, help="the person's full name (as in the "
                   "certificate)")
    p.add_argument("--email", required=True, help="the person's e-mail address")
    p.add_argument("--capacity", required=True, help="capacity line, e.g. « Le premier "
                   "adjoint au maire de Gignac, par délégation »")
    p.add_argument("--fingerprint", metavar="SHA256", help="pin the certificate's SHA-256")


def _sign_remote(sub: Any) -> None:
    p = sub.add_parser("sign-remote", help="sign through a circuit link with your own key",
                       description="Show what the link asks you to sign, ask for "
                       "confirmation, then sign with your key (PKCS#12, PEM or a card "
                       "through PKCS#11): the key never leaves this machine.")
    p.add_argument("link", help="your personal link (…/s/<token>)")
    add_credential_arguments(p, "credentials (one of PKCS#12, PEM, PKCS#11), as for "
                                "ctg sign")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--wait", type=float, default=300, metavar="SECONDS",
                   help="keep retrying while others sign, for at most this long "
                   "(default %(default)s)")
    p.set_defaults(run=run_sign_remote)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


# --------------------------------------------------------------------------- helpers


def _settings(args: argparse.Namespace, **extra: Any) -> CircuitSettings:
    from ..circuit.service import load_settings

    return load_settings(store=getattr(args, "store", None),
                         smtp=getattr(args, "smtp", None), **extra)


def _engine(settings: CircuitSettings) -> CircuitEngine:
    from ..circuit.service import make_engine

    return make_engine(settings)


def _send_mails(engine: CircuitEngine, settings: CircuitSettings) -> int:
    from ..circuit.mailer import make_mailer
    from ..circuit.mails import dispatch

    mailer = make_mailer(settings.smtp, settings.outbox_dir(), settings.smtp_password_env)
    return dispatch(engine, mailer, settings.mail_from)


def _refusal(exc: Exception) -> CircuitError:
    code = getattr(exc, "code", None)
    return CircuitError(str(exc), code=code)


# --------------------------------------------------------------------------- run


def run_start(args: argparse.Namespace) -> int:
    """``ctg circuit start PACKAGE --data DATA``."""
    from ..circuit.operations import start_circuit

    settings = _settings(args, base_url=args.base_url)
    engine = _engine(settings)
    started = start_circuit(engine, args.package, args.data, base_url=settings.base_url,
                            deadline=args.deadline, circuit_id=args.circuit_id,
                            coordinator_name=args.coordinator_name,
                            coordinator_email=args.coordinator_email)
    sent = _send_mails(engine, settings)
    if args.json:
        print(json.dumps(started.to_json(), ensure_ascii=False))
        return ExitCode.OK
    print(f"circuit {started.circuit} started ({sent} mail(s) sent); links, shown once:")
    print(f"  coordinator       {started.coordinator['link']}")
    for s in started.signatories:
        print(f"  {s['id']:<24} stage {s['stage']}  {s['state']:<8} {s['link']}")
    return ExitCode.OK


def run_serve(args: argparse.Namespace) -> int:
    """``ctg circuit serve``: the service in the foreground."""
    from ..circuit.app import serve

    settings = _settings(args, host=args.host, port=args.port,
                         trust=tuple(args.trust) if args.trust else None, tsa=args.tsa,
                         max_upload_mb=args.max_upload_mb, base_url=args.base_url)
    serve(settings)
    return ExitCode.OK


def run_status(args: argparse.Namespace) -> int:
    """``ctg circuit status [CIRCUIT]``."""
    from ..circuit.api import status_json

    engine = _engine(_settings(args))
    if args.circuit is None:
        views = [engine.status(cid) for cid in engine.circuit_ids()]
        if args.json:
            print(json.dumps([status_json(v) for v in views], ensure_ascii=False))
        for v in views if not args.json else ():
            print(f"{v.id:<40} {v.state:<10} {v.signed:>3}/{len(v.slots):<3} "
                  f"deadline {v.deadline.date()}")
        return ExitCode.OK
    view = _status(engine, args.circuit)
    if args.json:
        print(json.dumps(status_json(view), ensure_ascii=False))
        return ExitCode.OK
    print(f"{view.id}: {view.state}, {view.signed}/{len(view.slots)} signed, stage "
          f"{view.current_stage or '-'} open, deadline {view.deadline.isoformat()}")
    for s in view.slots:
        when = s.signed_at or s.declined_at or s.invited_at
        print(f"  {s.spec.stage:>2} {s.id:<28} {s.state:<8} "
              f"{when.isoformat(timespec='seconds') if when else '':<26} {s.spec.name}"
              + (f" ({s.level}, {s.via})" if s.level else ""))
    return ExitCode.OK


def _status(engine: CircuitEngine, circuit: str) -> Any:
    from signers.circuit.errors import NotFound

    try:
        return engine.status(circuit)
    except NotFound as exc:
        raise CircuitError(f"no circuit {circuit!r} in this store; list them with ctg "
                           "circuit status", code=exc.code) from exc


def run_remind(args: argparse.Namespace) -> int:
    """``ctg circuit remind CIRCUIT``: a sweep (due reminders, deadline, expiry)."""
    settings = _settings(args)
    engine = _engine(settings)
    _status(engine, args.circuit)
    result = engine.sweep(args.circuit)
    sent = _send_mails(engine, settings)
    print(f"{args.circuit}: {len(result.reminded)} reminder(s) due and sent"
          + (", circuit expired" if result.expired else "")
          + (", coordinator warned of the deadline" if result.warned else "")
          + f" ({sent} mail(s) sent)")
    return ExitCode.OK


def run_cancel(args: argparse.Namespace) -> int:
    """``ctg circuit cancel CIRCUIT``."""
    from signers.circuit.errors import CircuitRefusal

    engine = _engine(_settings(args))
    _status(engine, args.circuit)
    try:
        engine.cancel(args.circuit, by="ctg circuit cancel")
    except CircuitRefusal as exc:
        raise _refusal(exc) from exc
    print(f"{args.circuit}: cancelled")
    return ExitCode.OK


def run_reopen(args: argparse.Namespace) -> int:
    """``ctg circuit reopen CIRCUIT [--deadline D]``."""
    from signers.circuit.errors import CircuitRefusal

    from ..circuit.operations import end_of_day

    settings = _settings(args)
    engine = _engine(settings)
    _status(engine, args.circuit)
    try:
        engine.reopen(args.circuit, by="ctg circuit reopen",
                      deadline=end_of_day(args.deadline) if args.deadline else None)
    except CircuitRefusal as exc:
        raise _refusal(exc) from exc
    sent = _send_mails(engine, settings)
    print(f"{args.circuit}: reopened ({sent} mail(s) sent)")
    return ExitCode.OK


def run_replace(args: argparse.Namespace) -> int:
    """``ctg circuit replace CIRCUIT SIGNATORY --name --email --capacity``."""
    from signers.circuit.errors import CircuitRefusal

    from ..circuit.mails import signatory_link

    settings = _settings(args)
    engine = _engine(settings)
    view = _status(engine, args.circuit)
    try:
        token = engine.replace(args.circuit, args.signatory, name=args.name,
                               email=args.email, label=args.capacity,
                               fingerprint=args.fingerprint, by="ctg circuit replace")
    except CircuitRefusal as exc:
        raise _refusal(exc) from exc
    sent = _send_mails(engine, settings)
    print(f"{args.signatory}: now {args.name} ({args.capacity}); the old link is dead "
          f"({sent} mail(s) sent). New link, shown once:\n"
          f"  {signatory_link(view.base_url, token)}")
    return ExitCode.OK


def run_journal(args: argparse.Namespace) -> int:
    """``ctg circuit journal CIRCUIT [--verify] [-o FILE]``."""
    from signers.journal import verify_journal, write_journal

    settings = _settings(args)
    engine = _engine(settings)
    _status(engine, args.circuit)
    events, tokens = engine.journal(args.circuit)
    if args.output is not None:
        write_journal(events, args.output, tokens, args.output.parent / "journal")
    if args.verify:
        trust = args.trust or list(settings.trust)
        check = verify_journal(events, tokens, trust_roots=trust, journal=args.circuit)
        print(f"{args.circuit}: {check.events} events, {len(check.tokens)} timestamp "
              f"tokens, chain {'intact' if check.first_broken is None else 'BROKEN'}"
              + (f" (first broken event: {check.first_broken})" if check.first_broken
                 else "") + f", {check.untimestamped_tail} event(s) after the last token")
        for problem in check.problems:
            print(f"  {problem}")
        return ExitCode.OK if check.valid else ExitCode.VERIFICATION_FAILED
    if args.output is None:
        sys.stdout.write("".join(e.canonical().decode() + "\n" for e in events))
    return ExitCode.OK


def run_export(args: argparse.Namespace) -> int:
    """``ctg circuit export CIRCUIT -o DIR``."""
    from ..circuit.operations import export_circuit

    engine = _engine(_settings(args))
    _status(engine, args.circuit)
    result = export_circuit(engine, args.circuit, args.output)
    print(f"{result.document}\n{result.journal} ({result.tokens} timestamp token(s) in "
          f"{result.journal.parent / 'journal'})\n{result.signers}")
    return ExitCode.OK


def run_sign_remote(args: argparse.Namespace) -> int:
    """``ctg sign-remote LINK CREDENTIALS [--yes]``."""
    from ..circuit.agent import sign_remote
    from .sign import credentials_from_args

    result = sign_remote(args.link, lambda: credentials_from_args(args), yes=args.yes,
                         wait=args.wait)
    print(f"signed: {result['signed']} of {result['expected']} signatures "
          f"(PAdES {result['level']})" + (", circuit complete" if result["completed"]
                                           else ""))
    return ExitCode.OK
