"""The circuit's JSON API (``/api/v1``): invitations, uploads, remote signing sessions,
declines and the coordinator's status. Parses, calls the engine, renders."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import anyio
from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel, Field

from signers.circuit.errors import NotFound, Refused, TooLarge, UnsupportedMedia
from signers.circuit.records import Accepted, CircuitView, Head, Invitation, SlotView

from .web import token_key

__all__ = ["router"]

router = APIRouter(prefix="/api/v1")


class SessionRequest(BaseModel):
    """Body of a signing session request."""

    certificates: list[str] = Field(min_length=1, max_length=10)
    """Base64 DER certificates, the signer's first."""


class SignatureBody(BaseModel):
    """Body finishing a signing session."""

    signature: str = Field(max_length=20_000)
    """Base64 signature value over the signed attributes."""


class DeclineBody(BaseModel):
    """Body of a decline."""

    reason: str = Field(min_length=1, max_length=2000)
    """Why the signatory refuses to sign."""


def _engine(request: Request) -> Any:
    return request.app.state.engine


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


async def call_engine(request: Request, token: str | None, fn: Any, *args: Any,
                **kwargs: Any) -> Any:
    """Run an engine call in a worker thread; count its failures against the client
    address and the token (rate limits)."""
    limiter = request.app.state.limiter
    keys = [f"address:{_address(request)}"] + ([token_key(token)] if token else [])
    try:
        return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))
    except (NotFound, Refused) as exc:
        limiter.failed(*keys)
        raise exc


def _head(head: Head) -> dict[str, Any]:
    return {"sha256": head.sha256, "size": head.size, "signatures": head.signatures}


def _slot(slot: SlotView) -> dict[str, Any]:
    spec = slot.spec
    return {"id": slot.id, "name": spec.name, "capacity": spec.label, "stage": spec.stage,
            "state": str(slot.state), "email": spec.email,
            "organisation": spec.details.get("organisation"),
            "invited_at": _iso(slot.invited_at), "opened_at": _iso(slot.opened_at),
            "signed_at": _iso(slot.signed_at), "reminders_sent": slot.reminders_sent,
            "signer": slot.signer, "level": slot.level, "via": slot.via,
            "declined_at": _iso(slot.declined_at), "decline_reason": slot.decline_reason}


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


def _circuit(view: CircuitView) -> dict[str, Any]:
    return {"id": view.id, "title": view.title, "state": str(view.state),
            "deadline": view.deadline.isoformat(), "created_at": view.created_at.isoformat(),
            "current_stage": view.current_stage, "signed": view.signed,
            "expected": len(view.slots), "meta": {k: v for k, v in view.meta.items()
                                                  if k != "signature_fields"}}


def invitation_json(found: Invitation) -> dict[str, Any]:
    """The answer of ``GET /invitations/{token}``."""
    view, slot = found.circuit, found.slot
    assert slot is not None
    spec = slot.spec
    return {"signatory": slot.id, "field": spec.field, "name": spec.name,
            "capacity": spec.label, "organisation": spec.details.get("organisation"),
            "deliberation": spec.details.get("deliberation"), "reason": spec.reason,
            "state": str(slot.state), "stage": spec.stage,
            "circuit": _circuit(view), "deadline": view.deadline.isoformat(),
            "head": _head(view.head),
            "signatories": [{"id": s.id, "name": s.spec.name, "capacity": s.spec.label,
                             "stage": s.spec.stage, "state": str(s.state),
                             "signed_at": _iso(s.signed_at)} for s in view.slots]}


def accepted_json(result: Accepted) -> dict[str, Any]:
    """The answer to an accepted revision."""
    return {"head": {"sha256": result.head.sha256, "size": result.head.size},
            "signed": result.signed, "expected": result.expected,
            "level": result.acceptance.level, "completed": result.completed}


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness."""
    return {"status": "ok"}


@router.get("/invitations/{token}")
async def get_invitation(token: str, request: Request) -> dict[str, Any]:
    """Who signs what, and the state of the circuit. Changes nothing."""
    found = await call_engine(request, token, _engine(request).invitation, token)
    if found.slot is None:
        raise NotFound("unknown-link", "a coordinator link is not an invitation")
    return invitation_json(found)


@router.get("/invitations/{token}/document")
async def get_document(token: str, request: Request) -> Response:
    """The current document (journaled as opened)."""
    data, head = await call_engine(request, token, _engine(request).download, token,
                             _address(request))
    return _pdf(data, head, request.app.state.pdf_name)


def _pdf(data: bytes, head: Head, name: str) -> Response:
    return Response(data, media_type="application/pdf", headers={
        "ETag": f'"{head.sha256}"', "Content-Disposition": f'attachment; filename="{name}"',
        "X-Content-Type-Options": "nosniff"})


@router.post("/invitations/{token}/document", status_code=201)
async def post_document(token: str, request: Request,
                        if_match: str | None = Header(default=None)) -> dict[str, Any]:
    """Upload the signed PDF (raw ``application/pdf`` body)."""
    engine = _engine(request)
    try:
        data = await read_pdf_body(request, request.app.state.max_upload)
    except (TooLarge, UnsupportedMedia) as exc:
        refusal = exc
        await anyio.to_thread.run_sync(lambda: engine.note_refused(
            token, refusal.code, _address(request), detail=refusal.detail))
        raise
    result = await call_engine(request, token, engine.upload, token, data, if_match=if_match,
                         address=_address(request))
    request.app.state.kick()
    return accepted_json(result)


async def read_pdf_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it exceeds ``limit`` bytes — before it
    is read whole — and (415) unless it is a PDF."""
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype != "application/pdf":
        raise UnsupportedMedia("not-pdf", f"Content-Type {ctype or 'missing'}")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge("too-large", f"{declared} bytes declared", limit=limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge("too-large", f"more than {limit} bytes", limit=limit)
        chunks.append(chunk)
    data = b"".join(chunks)
    if not data.startswith(b"%PDF-"):
        raise UnsupportedMedia("not-pdf", "the body does not start with %PDF-")
    return data


@router.post("/invitations/{token}/signing-sessions", status_code=201)
async def post_session(token: str, body: SessionRequest, request: Request
                       ) -> dict[str, Any]:
    """Prepare a remote signature for the certificate sent (waits for another
    session's lease, bounded, else 409 ``busy`` with ``Retry-After``)."""
    certs = [_b64(c, "certificates") for c in body.certificates]
    info = await call_engine(request, token, _engine(request).open_session, token, certs,
                       _address(request))
    return {"session": info.id, "to_sign": base64.b64encode(info.to_sign).decode(),
            "digest_algorithm": info.digest_algorithm,
            "expires_at": info.expires_at.isoformat(), "head": _head(info.head)}


@router.post("/invitations/{token}/signing-sessions/{session}", status_code=201)
async def post_signature(token: str, session: str, body: SignatureBody, request: Request
                         ) -> dict[str, Any]:
    """Finish a session with the signature value: committed like an accepted upload."""
    signature = _b64(body.signature, "signature")
    result = await call_engine(request, token, _engine(request).finish_session, token, session,
                         signature, _address(request))
    request.app.state.kick()
    return accepted_json(result)


@router.post("/invitations/{token}/decline")
async def post_decline(token: str, body: DeclineBody, request: Request) -> dict[str, Any]:
    """Refuse to sign (the circuit stops; the coordinator is told)."""
    await call_engine(request, token, _engine(request).decline, token, body.reason,
                _address(request))
    request.app.state.kick()
    return {"state": "declined"}


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Refused("bad-request", f"{what}: not base64") from None


def _bearer(request: Request, circuit: str) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotFound("unauthorized", "no coordinator token")
    return token.strip()


async def _coordinator(request: Request, circuit: str) -> str:
    token = _bearer(request, circuit)
    owned = await call_engine(request, token, _engine(request).coordinator_circuit, token)
    if owned != circuit:
        raise NotFound("unauthorized", "not this circuit's coordinator")
    return token


def status_json(view: CircuitView) -> dict[str, Any]:
    """A circuit's status as the API and ``ctg circuit status --json`` show it."""
    return {**_circuit(view), "head": _head(view.head),
            "coordinator": {"name": view.coordinator_name, "email": view.coordinator_email},
            "signatories": [_slot(s) for s in view.slots]}


@router.get("/circuits/{circuit}")
async def get_circuit(circuit: str, request: Request) -> dict[str, Any]:
    """The circuit's status (``Authorization: Bearer <coordinator token>``)."""
    await _coordinator(request, circuit)
    view = await anyio.to_thread.run_sync(_engine(request).status, circuit)
    return status_json(view)


@router.get("/circuits/{circuit}/document")
async def get_circuit_document(circuit: str, request: Request) -> Response:
    """The current document, for the coordinator."""
    token = await _coordinator(request, circuit)
    data, head = await call_engine(request, token, _engine(request).download, token,
                             _address(request))
    return _pdf(data, head, request.app.state.pdf_name)


