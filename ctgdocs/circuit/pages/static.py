"""The pages' static files (style sheet, script, fonts), served from memory: only the
files shipped, each with a long cache lifetime (its URL carries its version)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from .portal import portal

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/static/{name:path}")
async def static_file(name: str, request: Request) -> Response:
    """A shipped static file (404 for anything else)."""
    asset = portal(request).assets.get(name)
    if asset is None:
        return Response(status_code=404, headers={"Cache-Control": "no-store"})
    return Response(asset.data, media_type=asset.media_type, headers={
        "Cache-Control": "public, max-age=31536000, immutable",
        "ETag": f'"{asset.version}"'})


@router.get("/favicon.ico")
async def favicon(request: Request) -> Response:
    """The icon browsers ask for by themselves."""
    return await static_file("favicon.svg", request)
