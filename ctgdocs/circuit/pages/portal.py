"""What the pages share: the templates, the static files, the previews, the journal
verifier, and the one place where failures become French pages."""

from __future__ import annotations

import collections
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
from signers.circuit.records import CircuitView, SlotView

from ... import __version__
from ...exceptions import CtgError
from ..messages import message_for
from .display import (
    CIRCUIT_STATES,
    SLOT_STATES,
    Stage,
    common_name,
    of,
    plural,
    status_line,
    when,
    who_label,
)
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
PAGE_CACHE = 512
"""Rendered pages kept in memory (each some 10 to 30 kB)."""


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
        self._pages: collections.OrderedDict[tuple[Any, ...], str] = \
            collections.OrderedDict()

    def render(self, request: Request, template: str, *, status: int = 200,
               token: str | None = None, view: CircuitView | None = None,
               **context: Any) -> HTMLResponse:
        """The page ``template`` (never cached by the browser: links carry tokens).

        With ``view``, the page shows that circuit and nothing that changes without it:
        the HTML is kept (in memory, a bounded number of pages) under the template, the
        link, the address it was asked at and everything of ``view`` a page can show,
        and served again while they are equal."""
        key: tuple[Any, ...] | None = None
        if view is not None:
            key = (template, status, token, str(request.base_url), fingerprint(view),
                   _frozen(context))
            try:
                html = self._pages.get(key)
            except TypeError:  # a value that cannot be a key: render every time
                key, html = None, None
            if key is not None and html is not None:
                self._pages.move_to_end(key)
                return HTMLResponse(html, status_code=status, headers=NO_STORE)
        csrf = csrf_for(request, token) if token else ""
        html = self.env.get_template(template).render(token=token, csrf=csrf, view=view,
                                                      **context)
        if key is not None:
            self._pages[key] = html
            while len(self._pages) > PAGE_CACHE:
                self._pages.popitem(last=False)
        return HTMLResponse(html, status_code=status, headers=NO_STORE)

    def forget_pages(self) -> None:
        """Drop the kept pages (each is rendered again at its next request)."""
        self._pages.clear()

    def unknown(self, request: Request) -> HTMLResponse:
        """The one page for an unknown, replaced or expired link (404)."""
        return self.render(request, "lien-inconnu.html", status=404,
                           message=message_for("unknown-link"))

    def failure(self, request: Request, status: int, title: str, message: str,
                back: str | None = None) -> HTMLResponse:
        """A page saying what went wrong and what to do."""
        return self.render(request, "erreur.html", status=status, title=title,
                           message=message, back=back)


def fingerprint(view: CircuitView) -> tuple[Any, ...]:
    """Everything of ``view`` a page can show, hashable. A slot's person (its spec)
    changes only with its generation; the document's facts (``meta``) never do."""
    return (view.id, view.title, view.state, view.created_at, view.deadline, view.head,
            view.coordinator_name, view.coordinator_email,
            tuple((s.id, s.generation, s.state, s.invited_at, s.opened_at, s.signed_at,
                   s.declined_at, s.decline_reason, s.reminders_sent, s.last_reminded_at,
                   s.signer, s.fingerprint, s.level, s.via) for s in view.slots))


def _frozen(context: dict[str, Any]) -> tuple[Any, ...]:
    """The hashable form of a page's other values (the records taken from the view are
    named by their id: the view's fingerprint covers their content)."""
    return tuple(sorted((k, _hashable(v)) for k, v in context.items()))


def _hashable(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, SlotView):
        return ("slot", value.id)
    if isinstance(value, Stage):
        return ("stage", value.number)
    return value


def _environment(assets: dict[str, Asset]) -> Any:
    import jinja2

    from ..web import templates_env

    env = templates_env()
    env.loader = jinja2.FileSystemLoader(TEMPLATES)
    env.auto_reload = False
    env.filters["fr"] = typography
    env.filters["datetime_fr"] = when
    env.globals.update(asset=lambda name: f"/static/{name}?v={assets[name].version}",
                       version=__version__,
                       who=who_label, status_line=status_line, slot_states=SLOT_STATES,
                       plural=plural, of=of, common_name=common_name,
                       circuit_states=CIRCUIT_STATES)
    return env


_NBSP = (("« ", "«\u00a0"), (" »", "\u00a0»"), (" :", "\u00a0:"), (" ;", "\u00a0;"),
         (" ?", "\u00a0?"), (" !", "\u00a0!"), ("n° ", "n°\u00a0"))


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
