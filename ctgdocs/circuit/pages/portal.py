"""What the pages share: the templates, the static files, the previews, the journal
verifier, and the one place where failures become French pages."""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from signers.circuit.errors import NotFound, StoreError

from ... import __version__
from ...exceptions import CtgError
from ..messages import message_for
from .display import CIRCUIT_STATES, SLOT_STATES, common_name, of, plural, status_line, who_label
from .forms import Forbidden, FormRefused, csrf_for
from .previews import PreviewCache
from .timeline import JournalVerifier

if TYPE_CHECKING:
    from ..settings import CircuitSettings

__all__ = ["Portal", "page", "portal"]

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".woff": "font/woff", ".svg": "image/svg+xml", ".txt": "text/plain; charset=utf-8"}
NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True)
class Asset:
    """A static file served by the app."""

    data: bytes
    """Its bytes."""
    media_type: str
    """Its Content-Type."""
    version: str
    """The start of its SHA-256 (in its URL, so that it can be cached for long)."""


def load_assets(folder: Path = STATIC) -> dict[str, Asset]:
    """Every static file under ``folder`` by its path relative to it."""
    assets = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in _TYPES:
            data = path.read_bytes()
            assets[path.relative_to(folder).as_posix()] = Asset(
                data, _TYPES[path.suffix], hashlib.sha256(data).hexdigest()[:12])
    return assets


class Portal:
    """The pages' shared state, kept in ``app.state.portal``."""

    def __init__(self, settings: CircuitSettings) -> None:
        self.assets = load_assets()
        self.env = _environment(self.assets)
        self.previews = PreviewCache(settings.data_dir() / "previews")
        self.verifier = JournalVerifier(settings.trust)

    def render(self, request: Request, template: str, *, status: int = 200,
               token: str | None = None, **context: Any) -> HTMLResponse:
        """The page ``template`` (never cached: links carry tokens)."""
        csrf = csrf_for(request, token) if token else ""
        html = self.env.get_template(template).render(token=token, csrf=csrf, **context)
        return HTMLResponse(html, status_code=status, headers=NO_STORE)

    def unknown(self, request: Request) -> HTMLResponse:
        """The one page for an unknown, replaced or expired link (404)."""
        return self.render(request, "lien-inconnu.html", status=404,
                           message=message_for("unknown-link"))

    def failure(self, request: Request, status: int, title: str, message: str,
                back: str | None = None) -> HTMLResponse:
        """A page saying what went wrong and what to do."""
        return self.render(request, "erreur.html", status=status, title=title,
                           message=message, back=back)


def _environment(assets: dict[str, Asset]) -> Any:
    import jinja2

    from ..web import templates_env

    env = templates_env()
    env.loader = jinja2.FileSystemLoader(TEMPLATES)
    env.auto_reload = False
    env.filters["fr"] = typography
    env.globals.update(asset=lambda name: f"/static/{name}?v={assets[name].version}",
                       version=__version__,
                       who=who_label, status_line=status_line, slot_states=SLOT_STATES,
                       plural=plural, of=of, common_name=common_name,
                       circuit_states=CIRCUIT_STATES)
    return env


_NBSP = (("« ", "«\u00a0"), (" »", "\u00a0»"), (" :", "\u00a0:"), (" ;", "\u00a0;"),
         (" ?", "\u00a0?"), (" !", "\u00a0!"))


def typography(text: Any) -> Any:
    """``text`` escaped, with the non-breaking spaces of French typography (before « : ; ? ! »
    and inside guillemets), so that no line starts with a colon or a guillemet."""
    import markupsafe

    value = str(markupsafe.escape(text))
    for plain, bound in _NBSP:
        value = value.replace(plain, bound)
    return markupsafe.Markup(value)


def portal(request: Request) -> Portal:
    """The app's :class:`Portal`."""
    return request.app.state.portal  # type: ignore[no-any-return]


Handler = Callable[..., Awaitable[Response]]


def page(handler: Handler) -> Handler:
    """Turn the failures of a page's handler into French pages: an unknown or dead link
    (404, one page for both), a form without its CSRF token (403), an unreadable form, an
    unavailable store or program (503)."""

    @functools.wraps(handler)
    async def wrapped(*args: Any, **kwargs: Any) -> Response:
        request: Request = kwargs["request"]
        try:
            return await handler(*args, **kwargs)
        except NotFound:
            return portal(request).unknown(request)
        except Forbidden:
            return portal(request).failure(
                request, 403, "Demande refusée",
                "Le formulaire n'a pas pu être vérifié (son jeton de sécurité manque ou "
                "ne correspond pas) : rien n'a été fait. Revenez à la page précédente, "
                "rechargez-la et recommencez.")
        except FormRefused as exc:
            return portal(request).failure(
                request, exc.status, "Formulaire illisible",
                "Le formulaire envoyé est incomplet ou trop long : rien n'a été fait. "
                "Revenez à la page précédente et recommencez.")
        except (StoreError, CtgError) as exc:
            log.error("page %s: %s", handler.__name__, exc)
            return portal(request).failure(request, 503, "Service indisponible",
                                           message_for("unavailable"))

    return wrapped
