"""The signing agent behind ``ctg sign-remote``: show what a link asks to sign, confirm,
then sign remotely with the signatory's own key."""

from __future__ import annotations

import base64
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..exceptions import CircuitError

if TYPE_CHECKING:
    from signers.credentials import Credentials

__all__ = ["describe", "sign_remote"]


def describe(info: dict[str, Any]) -> list[str]:
    """Lines saying what the invitation asks to sign (French data, English labels)."""
    circuit = info["circuit"]
    lines = [f"document:     {circuit['title']} ({info['head']['signatures']} signature(s) "
             f"so far, {circuit['signed']}/{circuit['expected']} signatories)",
             f"signatory:    {info['name']} — {info['capacity']}",
             f"field:        {info['field']} (stage {info['stage']}, state {info['state']})"]
    deliberation = (info.get("deliberation") or {}).get("text") or info.get("reason")
    if deliberation:
        lines.append(f"deliberation: {deliberation}")
    lines.append(f"deadline:     {info['deadline']}")
    return lines


def sign_remote(link: str, credentials: Callable[[], Credentials], *, yes: bool = False,
                wait: float = 300.0, say: Callable[[str], None] | None = None,
                ask: Callable[[str], str] | None = None) -> dict[str, Any]:
    """Sign the invitation of ``link`` with ``credentials()`` (read after confirmation);
    retries while other signatories hold the document, until ``wait`` seconds."""
    from signers.circuit.agent_key import open_agent_key
    from signers.circuit.client import CircuitClient, until
    from signers.circuit.errors import Conflict, Gone

    say = say or (lambda line: print(line, file=sys.stderr, flush=True))
    with CircuitClient.from_link(link, timeout=max(60.0, wait)) as client:
        info = client.invitation()
        for line in describe(info):
            say(line)
        _check_state(info)
        _confirm(yes, ask)
        creds = credentials()
        deadline, wall = until(wait)
        say(f"signing; if others are signing, retrying until {wall:%H:%M:%S}")
        with open_agent_key(creds) as key:
            chain = key.chain()
            announced = [False]

            def waiting(seconds: int) -> None:
                if not announced[0]:
                    say("another signatory is signing; waiting for the document…")
                    announced[0] = True

            while True:
                session = client.open_session(chain, deadline, waiting)
                signature = key.sign(base64.b64decode(session["to_sign"]))
                try:
                    return client.finish(session["session"], signature)
                except (Gone, Conflict) as exc:
                    if getattr(exc, "code", "") not in ("lease-expired", "head-moved") \
                            or time.monotonic() >= deadline:
                        raise
                    say(f"{exc.code}: starting again")


def _check_state(info: dict[str, Any]) -> None:
    state, circuit = info["state"], info["circuit"]["state"]
    if circuit != "open":
        raise CircuitError(f"the circuit is {circuit}: nothing to sign",
                           code="circuit-closed")
    if state == "signed":
        raise CircuitError("you have already signed this document", code="already-signed")
    if state == "waiting":
        raise CircuitError(f"not your turn yet: stage {info['circuit']['current_stage']} "
                           "is signing; you will get an e-mail", code="not-your-turn")


def _confirm(yes: bool, ask: Callable[[str], str] | None) -> None:
    if yes:
        return
    if ask is None:
        if not sys.stdin.isatty():
            raise CircuitError("confirmation needed and no terminal to ask: check what "
                               "is shown above, then run again with --yes",
                               code="confirmation-required")
        ask = input
    answer = ask("Sign this document? [y/N] ").strip().lower()
    if answer not in ("y", "yes", "o", "oui"):
        raise CircuitError("not signed: you did not confirm", code="not-confirmed")
