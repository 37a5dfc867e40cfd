"""The circuit service: the FastAPI application (API now, pages next) and ``serve``.

Errors become ``{"code", "message" (French), "details"}`` here, in one place. A
background task sweeps periodically (reminders, deadline, expiry, late journal
timestamps) and sends the queued mails; a state change wakes it at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from signers.circuit.errors import Busy, CircuitRefusal, StoreError

from ..exceptions import ServiceError
from .api import router
from .mails import dispatch
from .messages import message_for
from .pages import install_pages
from .web import RateLimiter, RequestLog, SecurityHeaders, token_key

if TYPE_CHECKING:
    from signers.circuit.engine import CircuitEngine

    from .mailer import Mailer
    from .settings import CircuitSettings

__all__ = ["create_app", "serve"]

log = logging.getLogger(__name__)


def error(status: int, code: str, details: dict[str, Any] | None = None,
          headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error answer."""
    return JSONResponse({"code": code, "message": message_for(code, details),
                         "details": details or {}}, status_code=status, headers=headers)


def create_app(settings: CircuitSettings, engine: CircuitEngine | None = None,
               mailer: Mailer | None = None) -> FastAPI:
    """The application on ``settings`` (``engine``/``mailer`` given by tests)."""
    from .mailer import make_mailer
    from .service import make_engine

    engine = engine or make_engine(settings)
    mailer = mailer or make_mailer(settings.smtp, settings.outbox_dir(),
                                   settings.smtp_password_env)
    worker = _Sweeper(engine, mailer, settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        warm = getattr(engine.checker, "warm_up", None)
        if warm is not None:
            await anyio.to_thread.run_sync(warm)
        worker.start()
        try:
            yield
        finally:
            await worker.stop()
            engine.store.dispose()

    app = FastAPI(title="ctgdocs — circuit de signature", version="1",
                  openapi_url="/api/v1/openapi.json", docs_url=None, redoc_url=None,
                  lifespan=lifespan,
                  description="Collecte des signatures d'une convention : invitations, "
                  "dépôt d'un PDF signé, signature à distance, refus, suivi.")
    app.state.engine = engine
    app.state.settings = settings
    app.state.limiter = RateLimiter(settings.rate_failures, settings.rate_window_seconds)
    app.state.max_upload = int(settings.max_upload_mb * 1024 * 1024)
    app.state.pdf_name = "convention.pdf"
    app.state.kick = worker.kick
    app.include_router(router)
    install_pages(app)
    _handlers(app)
    app.add_middleware(_RateLimitGate)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestLog)
    return app


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(CircuitRefusal)
    async def refusal(_: Request, exc: CircuitRefusal) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Busy) else None
        return error(exc.status, exc.code, _public(exc.details), headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [".".join(str(p) for p in e.get("loc", ())) for e in exc.errors()]
        return error(422, "bad-request", {"fields": fields})

    @app.exception_handler(StarletteHTTPException)
    async def http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "unknown-link" if exc.status_code == 404 else "bad-request"
        return error(exc.status_code, code)

    @app.exception_handler(StoreError)
    async def store(_: Request, exc: StoreError) -> JSONResponse:
        log.error("store: %s", exc)
        return error(503, "unavailable")

    @app.exception_handler(ServiceError)
    async def service(_: Request, exc: ServiceError) -> JSONResponse:
        log.error("service: %s", exc)
        return error(503, "unavailable")


def _public(details: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in details.items() if isinstance(v, str | int | float | bool | dict
                                                          | list) or v is None}


class _RateLimitGate:
    """429 before anything else for a client address or token with too many failures."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            state = scope["app"].state
            path = scope.get("path", "")
            keys = [f"address:{(scope.get('client') or ('-',))[0]}"]
            parts = path.split("/")
            if len(parts) > 4 and parts[3] == "invitations":
                keys.append(token_key(parts[4]))
            wait = state.limiter.retry_after(*keys)
            if wait is not None:
                response = error(429, "rate-limited", {"retry_after": wait},
                                 {"Retry-After": str(wait)})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _Sweeper:
    """The periodic sweep and the mail dispatch, in worker threads."""

    def __init__(self, engine: CircuitEngine, mailer: Mailer,
                 settings: CircuitSettings) -> None:
        self.engine, self.mailer, self.settings = engine, mailer, settings
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="circuit-sweeper")

    def kick(self) -> None:
        """Send the queued mails now (called after a state change)."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        assert self._wake is not None
        next_sweep = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                if loop.time() >= next_sweep:
                    await anyio.to_thread.run_sync(self.engine.sweep)
                    next_sweep = loop.time() + self.settings.sweep_seconds
                await anyio.to_thread.run_sync(dispatch, self.engine, self.mailer,
                                               self.settings.mail_from)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the service must keep sweeping
                log.exception("circuit sweep failed; retrying at the next one")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(),
                                       max(0.1, next_sweep - loop.time()))


def serve(settings: CircuitSettings, *, announce: Any = None) -> None:
    """Run the service with uvicorn in the foreground until SIGTERM or Ctrl-C. The
    socket is bound here (port 0: any free port) and its URL announced on stdout."""
    import uvicorn

    _log_with_time()
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        raise ServiceError(f"cannot listen on {settings.host}:{settings.port} "
                           f"({exc.strerror}); choose another --port") from exc
    sock.listen(128)
    port = sock.getsockname()[1]
    url = f"http://{settings.host}:{port}"
    (announce or _announce)(url)
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on",
                            timeout_graceful_shutdown=10, server_header=False)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the signal again
    # with the handler found at start: ours ends the command normally (exit 0).
    previous = signal.signal(signal.SIGTERM, _stopped)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except (_Stop, KeyboardInterrupt):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()
    log.info("circuit service stopped")


class _Stop(Exception):
    """SIGTERM after the graceful shutdown."""


def _stopped(signum: int, frame: Any) -> None:
    raise _Stop


def _log_with_time() -> None:
    """The service's own lines (one per request, timings, mails) at INFO with the time,
    on stderr; the rest stays as the command line configured it."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("ctgdocs.circuit", "signers.circuit"):
        logger = logging.getLogger(name)
        logger.setLevel(min(logger.getEffectiveLevel(), logging.INFO))
        logger.addHandler(handler)
        logger.propagate = False


def _announce(url: str) -> None:
    print(url, flush=True)
    print(f"ctg circuit serve: listening on {url} (Ctrl-C to stop)", file=sys.stderr,
          flush=True)
