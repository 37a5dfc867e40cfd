"""The circuit's pages in French: the signatory's portal (``/s/{token}``) and the
coordinator's dashboard (``/c/{token}``), server-rendered, with their static files."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["install_pages"]


def install_pages(app: FastAPI) -> None:
    """Serve the pages and their static files from ``app`` (made by ``create_app``)."""
    from .coordinator import router as coordinator
    from .portal import Portal
    from .signatory import router as signatory
    from .static import router as static

    app.state.portal = Portal(app.state.settings)
    for router in (signatory, coordinator, static):
        app.include_router(router)
