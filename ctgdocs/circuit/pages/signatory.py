"""The signatory's pages (``/s/{token}``): the invitation, the document's previews and
download, the two ways of signing with the upload's answer, the decline, and a page for
each state that is not "invited". Each calls the engine as the API does."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from signers.circuit.errors import CircuitRefusal, Conflict, NotFound, TooLarge, UnsupportedMedia
from signers.circuit.records import CircuitState, Invitation, SlotState

from ..api import call_engine
from ..messages import message_for
from .display import REFUSAL_TITLES, awaited, document, stages
from .forms import CSRF_FIELD, UploadReader, check_csrf, read_form
from .portal import NO_STORE, page, portal
from .previews import Layout

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

REASON_LIMIT = 2000
"""Longest decline reason (as the API)."""
_NEW_VERSION = frozenset({"head-moved", "wrong-field", "not-incremental", "several-signatures",
                          "forbidden-change", "invalid-signature", "damaged",
                          "no-new-signature", "too-complex", "not-pdf", "too-large"})
"""Refusals after which the signatory should download the document again."""


def _engine(request: Request) -> Any:
    return request.app.state.engine


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


async def invitation(request: Request, token: str) -> Invitation:
    """The invitation of ``token`` (:class:`NotFound` for any other link)."""
    found: Invitation = await call_engine(request, token, _engine(request).invitation, token)
    if found.slot is None:
        raise NotFound("unknown-link", "a coordinator link is not an invitation")
    return found


async def layout(request: Request, found: Invitation) -> Layout:
    """The layout of the invitation's document (read from the PDF once per circuit)."""
    previews, view = portal(request).previews, found.circuit
    cached = previews.cached_layout(view.id)
    if cached is not None:
        return cached
    engine = _engine(request)
    return await anyio.to_thread.run_sync(
        previews.layout, view.id, lambda: engine.head_bytes(view.id, view.head))


async def _context(request: Request, token: str, found: Invitation) -> dict[str, Any]:
    view, slot = found.circuit, found.slot
    assert slot is not None
    pages = await layout(request, found)
    place = pages.fields.get(slot.spec.field)
    return {"view": view, "slot": slot, "doc": document(view, len(pages.pages)),
            "stages": stages(view), "awaited": awaited(view),
            "field_page": place[0] if place else None, "base": f"/s/{token}",
            "link": f"{str(request.base_url).rstrip('/')}/s/{token}"}


def _state_template(found: Invitation) -> str | None:
    """The page of a signatory who cannot sign now (``None``: they can)."""
    view, slot = found.circuit, found.slot
    assert slot is not None
    if slot.state == SlotState.SIGNED:
        return "signatory/signed.html"
    if view.state != CircuitState.OPEN or slot.state == SlotState.DECLINED:
        return "signatory/closed.html"
    if slot.state == SlotState.WAITING:
        return "signatory/waiting.html"
    return None


async def _show(request: Request, token: str, template: str | None = None, *,
                status: int = 200, found: Invitation | None = None,
                **extra: Any) -> Response:
    """``template`` — or, when the signatory cannot sign now, the page of their state."""
    found = found or await invitation(request, token)
    chosen = _state_template(found) or template or "signatory/landing.html"
    context = await _context(request, token, found)
    return portal(request).render(request, chosen, status=status, token=token,
                                  **context, **extra)


@router.get("/s/{token}")
@page
async def landing(token: str, request: Request) -> Response:
    """Who asks, what, by when, and where the circuit stands. Changes nothing."""
    return await _show(request, token)


@router.post("/s/{token}/ouvrir")
@page
async def open_document(token: str, request: Request) -> Response:
    """"Read the document": the deliberate opening, journaled, then the previews."""
    form = await read_form(request)
    check_csrf(request, token, form.get(CSRF_FIELD))
    await call_engine(request, token, _engine(request).download, token, _address(request))
    return RedirectResponse(f"/s/{token}/document", status_code=303, headers=NO_STORE)


@router.get("/s/{token}/document")
@page
async def read(token: str, request: Request) -> Response:
    """The document's pages, the signatory's block outlined. Changes nothing."""
    found = await invitation(request, token)
    pages = await layout(request, found)
    assert found.slot is not None
    place = pages.fields.get(found.slot.spec.field)
    context = await _context(request, token, found)
    return portal(request).render(request, "signatory/document.html", token=token,
                                  pages=pages.pages, place=place, **context)


@router.get("/s/{token}/document/page-{number}.png")
@page
async def preview(token: str, number: str, request: Request) -> Response:
    """One page's preview, rendered once per head and page."""
    found = await invitation(request, token)
    pages = await layout(request, found)
    if not (number.isdigit() and len(number) < 6 and 1 <= int(number) <= len(pages.pages)):
        return Response(status_code=404, headers=NO_STORE)
    n = int(number)
    view, engine, previews = found.circuit, _engine(request), portal(request).previews
    png = previews.cached_page(view.head.sha256, n)
    if png is None:
        png, _ = await anyio.to_thread.run_sync(
            previews.page, view.head.sha256, n,
            lambda: engine.head_bytes(view.id, view.head))
    return Response(png, media_type="image/png", headers=NO_STORE)


@router.get("/s/{token}/telecharger")
@page
async def download(token: str, request: Request) -> Response:
    """The current PDF (journaled as "opened", as the API's download)."""
    return await send_pdf(request, token)


async def send_pdf(request: Request, token: str) -> Response:
    """The current PDF for the link ``token`` (``engine.download``: journaled)."""
    data, head = await call_engine(request, token, _engine(request).download, token,
                             _address(request))
    return Response(data, media_type="application/pdf", headers={
        **NO_STORE, "ETag": f'"{head.sha256}"',
        "Content-Disposition": f'attachment; filename="{request.app.state.pdf_name}"'})


@router.get("/s/{token}/signer")
@page
async def sign(token: str, request: Request) -> Response:
    """The two ways of signing, side by side, and the upload form."""
    return await _show(request, token, "signatory/sign.html", limit=_limit(request))


def _limit(request: Request) -> dict[str, Any]:
    size = int(request.app.state.max_upload)
    return {"bytes": size, "text": f"{size / 1024 / 1024:.0f} Mo"}


@router.post("/s/{token}/signer")
@page
async def upload(token: str, request: Request) -> Response:
    """The signed PDF sent by the form: accepted (200) or refused with what to do."""
    engine = _engine(request)
    reader = UploadReader(request.app.state.max_upload)
    try:
        data = await reader.read(request)
    except (TooLarge, UnsupportedMedia) as exc:
        presented = reader.fields.get(CSRF_FIELD)
        if presented is not None:
            check_csrf(request, token, presented)
            refusal = exc
            await anyio.to_thread.run_sync(lambda: engine.note_refused(
                token, refusal.code, _address(request), detail=refusal.detail))
        return await _refused(request, token, exc)
    check_csrf(request, token, reader.fields.get(CSRF_FIELD))
    try:
        result = await call_engine(request, token, engine.upload, token, data,
                             address=_address(request))
    except NotFound:
        raise
    except CircuitRefusal as exc:
        return await _refused(request, token, exc)
    request.app.state.kick()
    found = await invitation(request, token)
    context = await _context(request, token, found)
    return portal(request).render(request, "signatory/accepted.html", token=token,
                                  result=result, **context)


async def _refused(request: Request, token: str, exc: CircuitRefusal) -> Response:
    found = await invitation(request, token)
    assert found.slot is not None
    details = {"field": found.slot.spec.field, "expected": found.slot.spec.label,
               **exc.details}
    context = await _context(request, token, found)
    return portal(request).render(
        request, "signatory/refused.html", status=exc.status, token=token, code=exc.code,
        title=REFUSAL_TITLES.get(exc.code, "document refusé"),
        message=message_for(exc.code, details), download_again=exc.code in _NEW_VERSION,
        retry=_state_template(found) is None, limit=_limit(request), **context)


@router.get("/s/{token}/refuser")
@page
async def decline_form(token: str, request: Request) -> Response:
    """The decline form (a reason is asked, then a confirmation)."""
    found = await invitation(request, token)
    if not _may_decline(found):
        return await _show(request, token, found=found)
    return await _show(request, token, "signatory/decline.html", found=found, reason="",
                       error=None)


def _may_decline(found: Invitation) -> bool:
    slot = found.slot
    return (found.circuit.state == CircuitState.OPEN and slot is not None
            and slot.state in (SlotState.INVITED, SlotState.WAITING))


@router.post("/s/{token}/refuser")
@page
async def decline(token: str, request: Request) -> Response:
    """First the reason is checked and a confirmation asked; with the confirmation,
    the decline is recorded (the circuit stops, the coordinator is told)."""
    form = await read_form(request)
    check_csrf(request, token, form.get(CSRF_FIELD))
    found = await invitation(request, token)
    if not _may_decline(found):
        return await _show(request, token, found=found)
    reason = " ".join(form.get("motif", "").split())
    error = ("Indiquez le motif de votre refus." if not reason else
             f"Le motif est trop long ({len(reason)} caractères ; {REASON_LIMIT} au plus)."
             if len(reason) > REASON_LIMIT else None)
    if error is not None:
        return await _show(request, token, "signatory/decline.html", status=422,
                           found=found, reason=reason, error=error)
    if form.get("confirmation") != "oui":
        return await _show(request, token, "signatory/decline-confirm.html", found=found,
                           reason=reason)
    try:
        await call_engine(request, token, _engine(request).decline, token, reason,
                    _address(request))
    except Conflict:
        return await _show(request, token)
    request.app.state.kick()
    found = await invitation(request, token)
    return portal(request).render(request, "signatory/declined.html", token=token,
                                  **await _context(request, token, found))



@router.get("/s/{token}/{rest:path}")
async def elsewhere(token: str, rest: str) -> Response:
    """Any other address under a link (a form's address opened again, a link cut
    short): the link's first page, which says what the link is, if anything."""
    return RedirectResponse(f"/s/{token}", status_code=303, headers=NO_STORE)
