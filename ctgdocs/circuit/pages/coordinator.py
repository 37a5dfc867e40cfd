"""The coordinator's dashboard (``/c/{token}``): the progress of every stage and
signatory, the journal as a timeline with its verification, the downloads, and the
circuit's actions (remind, replace, reopen, cancel), each confirmed, then journaled by
the engine."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from signers.circuit.errors import CircuitRefusal, NotFound
from signers.circuit.records import CircuitState, CircuitView, SlotState, SlotView
from signers.journal import token_name

from ..api import call_engine
from ..messages import message_for
from ..operations import end_of_day
from .display import awaited, document, plural, stages
from .forms import CSRF_FIELD, check_csrf, read_form
from .portal import NO_STORE, page, portal
from .signatory import send_pdf

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

BY = "coordinator portal"
"""``by`` of the journal events of the dashboard's actions."""
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NOTICES = {"relance": "Relance envoyée : {n} de rappel {go} maintenant.",
            "rouvert": "Le circuit est rouvert ; les signataires attendus reçoivent leur "
                       "invitation.",
            "annule": "Le circuit est annulé. Plus aucune signature n'est acceptée."}


def _engine(request: Request) -> Any:
    return request.app.state.engine


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


async def circuit_of(request: Request, token: str) -> CircuitView:
    """The circuit of the coordinator link ``token`` (:class:`NotFound` otherwise), as
    the API's ``GET /circuits/{id}`` reads it."""
    engine = _engine(request)
    circuit = await call_engine(request, token, engine.coordinator_circuit, token)
    view: CircuitView = await anyio.to_thread.run_sync(engine.status, circuit)
    return view


def _context(token: str, view: CircuitView) -> dict[str, Any]:
    return {"view": view, "doc": document(view, 0), "stages": stages(view),
            "awaited": awaited(view), "base": f"/c/{token}", "actions": _actions(view)}


def _actions(view: CircuitView) -> dict[str, bool]:
    state = view.state
    return {"remind": state == CircuitState.OPEN and bool(awaited(view)),
            "reopen": state in (CircuitState.DECLINED, CircuitState.EXPIRED),
            "cancel": state not in (CircuitState.COMPLETE, CircuitState.CANCELLED),
            "replace": state not in (CircuitState.COMPLETE, CircuitState.CANCELLED)}


def _render(request: Request, token: str, view: CircuitView, template: str, *,
            status: int = 200, **extra: Any) -> Response:
    return portal(request).render(request, template, status=status, token=token,
                                  **_context(token, view), **extra)


def _done(token: str, what: str, count: int | None = None) -> Response:
    query = f"?fait={what}" + (f"&n={count}" if count is not None else "")
    return RedirectResponse(f"/c/{token}{query}", status_code=303, headers=NO_STORE)


def _refusal(request: Request, token: str, view: CircuitView, exc: CircuitRefusal
             ) -> Response:
    message = message_for(exc.code, exc.details)
    return portal(request).failure(request, exc.status, "Action impossible", message,
                                   back=f"/c/{token}")


@router.get("/c/{token}")
@page
async def dashboard(token: str, request: Request) -> Response:
    """Where every stage and signatory stands, and what can be done."""
    view = await circuit_of(request, token)
    done = request.query_params.get("fait")
    count = request.query_params.get("n", "")
    notice = _NOTICES.get(done or "")
    if notice is not None:
        n = int(count) if count.isdigit() and len(count) < 6 else 0
        notice = notice.format(n=plural(n, "courriel", "courriels"),
                               go="part" if n < 2 else "partent")
    return _render(request, token, view, "coordinator/dashboard.html", notice=notice)


@router.get("/c/{token}/journal")
@page
async def journal(token: str, request: Request) -> Response:
    """The journal as a timeline, with its verification (chain and tokens)."""
    from .timeline import timeline

    view = await circuit_of(request, token)
    engine, verifier = _engine(request), portal(request).verifier
    events, tokens = await anyio.to_thread.run_sync(engine.journal, view.id)
    status, checks = await anyio.to_thread.run_sync(verifier.check, view.id, events, tokens)
    return _render(request, token, view, "coordinator/journal.html", check=status,
                   entries=timeline(view, events, checks))


@router.get("/c/{token}/journal.jsonl")
@page
async def journal_jsonl(token: str, request: Request) -> Response:
    """The journal as JSON Lines (one canonical event per line)."""
    view = await circuit_of(request, token)
    events, _ = await anyio.to_thread.run_sync(_engine(request).journal, view.id)
    body = b"".join(e.canonical() + b"\n" for e in events)
    return Response(body, media_type="application/jsonl", headers={
        **NO_STORE, "Content-Disposition": f'attachment; filename="journal-{view.id}.jsonl"'})


@router.get("/c/{token}/journal.zip")
@page
async def journal_zip(token: str, request: Request) -> Response:
    """The journal with its timestamp tokens (``journal.jsonl``, ``journal/*.tsr``)."""
    view = await circuit_of(request, token)
    events, tokens = await anyio.to_thread.run_sync(_engine(request).journal, view.id)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("journal.jsonl", b"".join(e.canonical() + b"\n" for e in events))
        for seq, der in sorted(tokens.items()):
            archive.writestr(f"journal/{token_name(seq)}", der)
    return Response(buffer.getvalue(), media_type="application/zip", headers={
        **NO_STORE, "Content-Disposition": f'attachment; filename="journal-{view.id}.zip"'})


@router.get("/c/{token}/document")
@page
async def download(token: str, request: Request) -> Response:
    """The current document (journaled as opened by the coordinator)."""
    await call_engine(request, token, _engine(request).coordinator_circuit, token)
    return await send_pdf(request, token)


async def _posted(request: Request, token: str) -> tuple[dict[str, str], CircuitView]:
    """The form posted (its CSRF token checked first) and the circuit of ``token``."""
    form = await read_form(request)
    check_csrf(request, token, form.get(CSRF_FIELD))
    return form, await circuit_of(request, token)


def _slot(view: CircuitView, slot_id: str | None) -> SlotView | None:
    if not slot_id:
        return None
    try:
        return view.slot(slot_id)
    except KeyError:
        raise NotFound("unknown-slot", f"no signatory {slot_id!r}") from None


@router.get("/c/{token}/relancer")
@page
async def remind_form(token: str, request: Request) -> Response:
    """Confirm a reminder to one signatory (``?signataire=ID``) or to all awaited."""
    view = await circuit_of(request, token)
    slot = _slot(view, request.query_params.get("signataire"))
    return _render(request, token, view, "coordinator/remind.html", target=slot)


@router.post("/c/{token}/relancer")
@page
async def remind(token: str, request: Request) -> Response:
    """Send the confirmed reminder(s) now."""
    form, view = await _posted(request, token)
    slot = _slot(view, form.get("signataire"))
    try:
        done = await anyio.to_thread.run_sync(
            lambda: _engine(request).remind(view.id, slot.id if slot else None, by=BY))
    except CircuitRefusal as exc:
        return _refusal(request, token, view, exc)
    request.app.state.kick()
    return _done(token, "relance", len(done))


@router.get("/c/{token}/remplacer/{slot_id}")
@page
async def replace_form(token: str, slot_id: str, request: Request) -> Response:
    """The form naming another person for a signatory."""
    view = await circuit_of(request, token)
    slot = _slot(view, slot_id)
    assert slot is not None
    values = {"nom": "", "courriel": "", "qualite": f"{slot.spec.label}, par délégation",
              "empreinte": ""}
    return _render(request, token, view, "coordinator/replace.html", target=slot,
                   values=values, errors={})


@router.post("/c/{token}/remplacer/{slot_id}")
@page
async def replace(token: str, slot_id: str, request: Request) -> Response:
    """Check the new person, ask for confirmation, then replace (the old link dies)."""
    form, view = await _posted(request, token)
    slot = _slot(view, slot_id)
    assert slot is not None
    values, errors = _replacement(form)
    if errors:
        return _render(request, token, view, "coordinator/replace.html", status=422,
                       target=slot, values=values, errors=errors)
    if form.get("confirmation") != "oui":
        return _render(request, token, view, "coordinator/replace-confirm.html",
                       target=slot, values=values)
    try:
        new = await anyio.to_thread.run_sync(lambda: _engine(request).replace(
            view.id, slot.id, name=values["nom"], email=values["courriel"],
            label=values["qualite"], fingerprint=values["empreinte"] or None, by=BY))
    except CircuitRefusal as exc:
        return _refusal(request, token, view, exc)
    request.app.state.kick()
    view = await anyio.to_thread.run_sync(_engine(request).status, view.id)
    link = f"{str(request.base_url).rstrip('/')}/s/{new}"
    return _render(request, token, view, "coordinator/replaced.html",
                   target=view.slot(slot.id), new_link=link,
                   invited=view.slot(slot.id).state == SlotState.INVITED)


def _replacement(form: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The replacement's values, cleaned, and the French error of each wrong one."""
    values = {key: " ".join(form.get(key, "").split())
              for key in ("nom", "courriel", "qualite", "empreinte")}
    values["empreinte"] = re.sub(r"[\s:]", "", values["empreinte"]).lower()
    errors = {}
    if not values["nom"] or len(values["nom"]) > 200:
        errors["nom"] = "Indiquez le nom de la personne, tel qu'il figure sur son certificat."
    if not _EMAIL.match(values["courriel"]) or len(values["courriel"]) > 254:
        errors["courriel"] = "Indiquez une adresse électronique valable, par exemple " \
                             "prenom.nom@commune.fr."
    if not values["qualite"] or len(values["qualite"]) > 300:
        errors["qualite"] = "Indiquez la qualité du signataire, par exemple « Le premier " \
                            "adjoint au maire, par délégation »."
    if values["empreinte"] and not re.fullmatch(r"[0-9a-f]{64}", values["empreinte"]):
        errors["empreinte"] = "L'empreinte SHA-256 compte 64 caractères hexadécimaux " \
                              "(0 à 9, a à f) ; laissez le champ vide si vous ne la " \
                              "connaissez pas."
    return values, errors


@router.get("/c/{token}/rouvrir")
@page
async def reopen_form(token: str, request: Request) -> Response:
    """Confirm reopening a declined or expired circuit (a new deadline may be given)."""
    view = await circuit_of(request, token)
    return _render(request, token, view, "coordinator/reopen.html", value="", error=None)


@router.post("/c/{token}/rouvrir")
@page
async def reopen(token: str, request: Request) -> Response:
    """Reopen: the declining signatory and the open stage are invited again."""
    form, view = await _posted(request, token)
    value = form.get("date_limite", "").strip()
    deadline, error = _deadline(value)
    if error is None:
        try:
            await anyio.to_thread.run_sync(lambda: _engine(request).reopen(
                view.id, deadline=deadline, by=BY))
        except CircuitRefusal as exc:
            error = message_for(exc.code, exc.details)
    if error is not None:
        return _render(request, token, view, "coordinator/reopen.html", status=422,
                       value=value, error=error)
    request.app.state.kick()
    return _done(token, "rouvert")


def _deadline(value: str) -> tuple[dt.datetime | None, str | None]:
    """The new deadline given (end of that day in Paris), or what is wrong with it."""
    if not value:
        return None, None
    try:
        return end_of_day(dt.date.fromisoformat(value)), None
    except ValueError:
        return None, "Indiquez la date au format AAAA-MM-JJ, par exemple 2023-03-31."


@router.get("/c/{token}/annuler")
@page
async def cancel_form(token: str, request: Request) -> Response:
    """Confirm cancelling the circuit (final)."""
    view = await circuit_of(request, token)
    return _render(request, token, view, "coordinator/cancel.html")


@router.post("/c/{token}/annuler")
@page
async def cancel(token: str, request: Request) -> Response:
    """Cancel the circuit: no signature is accepted any more."""
    form, view = await _posted(request, token)
    reason = " ".join(form.get("motif", "").split())[:2000]
    try:
        await anyio.to_thread.run_sync(lambda: _engine(request).cancel(
            view.id, reason=reason, by=BY))
    except CircuitRefusal as exc:
        return _refusal(request, token, view, exc)
    return _done(token, "annule")


@router.get("/c/{token}/{rest:path}")
async def elsewhere(token: str, rest: str) -> Response:
    """Any other address under a link (a form's address opened again, a link cut
    short): the link's first page, which says what the link is, if anything."""
    return RedirectResponse(f"/c/{token}", status_code=303, headers=NO_STORE)
