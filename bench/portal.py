"""Benchmark of the portal's pages against the API calls that show the same data, and of
the page previews, in one run (issue 15, §5).

(a) server time of each page against its API call: the signatory's landing, reading and
    signing pages against ``GET /api/v1/invitations/{t}``, the PDF download against the
    API's, the coordinator's dashboard against ``GET /api/v1/circuits/{id}``; the ASGI
    app is called directly (middlewares included; no network, no HTTP client in the
    timing), page and API in turn, ``--rounds`` times each after a warm-up; each time is
    the median.
    Target: each page ≤ 1.3 × its API call (templates add little).
(b) for information: the landing page rendered at every call (as right after each change
    of the circuit: the kept page is dropped before each call), and the journal page
    (timeline and verification, each timestamp token checked once; the API has no
    journal call, it is set against the status call).
(c) previews: the first rendering of a page (``pdftoppm``) against serving it again
    from the cache, over ``--pages`` pages of the head (the cache emptied first);
    target: cached ≤ 0.1 × first. And 8 simultaneous requests for one page not yet
    rendered: rendered once.

On the reference package (built incrementally under ``.bench/packages/`` like
bench/sign.py, or ``--package PDF --data YAML``), a circuit of its 16 signatories on a
SQLite store in a temporary folder, with a demonstration PKI and TSA, and 3 signatures
accepted (so that the journal has timestamp tokens).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EXAMPLE = ROOT / "examples" / "vallee-herault" / "convention.yaml"
PACKAGES = ROOT / ".bench" / "packages"
REAL16 = PACKAGES / "vallee-herault-2022-2026" / "convention-package.pdf"
PAGE_TARGET = 1.3
PREVIEW_TARGET = 0.1
SIGNERS = ("maire-gignac", "maire-aniane", "maire-la-boissiere")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def package_for(args: argparse.Namespace) -> tuple[Path, Path]:
    """(package, data): given, or the reference package built incrementally."""
    if args.package:
        return args.package, args.data
    from ctgdocs import BuildOptions, build_package

    if not REAL16.exists():
        say(f"building {REAL16} (LibreOffice)…")
    build_package(EXAMPLE, BuildOptions(output_root=PACKAGES))
    return REAL16, EXAMPLE


class World:
    """A store with one circuit, its app, and the links."""

    def __init__(self, folder: Path, package: Path, data: Path, tsa: str, pki: Any) -> None:
        from ctgdocs.circuit.app import create_app
        from ctgdocs.circuit.mailer import OutboxMailer
        from ctgdocs.circuit.operations import start_circuit
        from ctgdocs.circuit.service import load_settings, make_engine
        from signers.circuit.sandbox import InProcessChecker

        settings = load_settings(store=str(folder / "store"), trust=(pki.root_cert,), tsa=tsa)
        self.engine = make_engine(settings, checker=InProcessChecker())
        self.app = create_app(settings, engine=self.engine,
                              mailer=OutboxMailer(folder / "outbox"))
        started = start_circuit(self.engine, package, data, base_url="http://bench",
                                circuit_id="bench", coordinator_name="Coordination",
                                coordinator_email="coordination@example.fr")
        self.circuit = started.circuit
        self.tokens = {s["id"]: s["token"] for s in started.signatories}
        self.coordinator = started.coordinator["token"]
        self.previews = settings.data_dir() / "previews"
        self.pki, self.tsa, self.folder = pki, tsa, folder

    def sign(self, who: str) -> None:
        """Accept ``who``'s signature (a real PAdES B-T one) through the engine."""
        from signers.credentials import Pkcs12Credentials
        from signers.sign import sign_field

        src, dst = self.folder / "in.pdf", self.folder / "out.pdf"
        src.write_bytes(self.engine.head_bytes(self.circuit))
        sign_field(src, dst, who, Pkcs12Credentials(self.pki.pkcs12(who), self.pki.passphrase),
                   tsa_url=self.tsa)
        self.engine.upload(self.tokens[who], dst.read_bytes())


class Client:
    """Calls the ASGI app directly (no network, no HTTP client in the timing): the time
    of a call is the server's, middlewares included."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def get(self, url: str, headers: dict[str, str] | None = None
                  ) -> tuple[int, bytes]:
        path, _, query = url.partition("?")
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
                 "query_string": query.encode(), "root_path": "",
                 "headers": [(b"host", b"bench")] + [(k.lower().encode(), v.encode())
                                                     for k, v in (headers or {}).items()],
                 "client": ("127.0.0.1", 50000), "server": ("bench", 80)}
        status, body = [0], bytearray()

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))

        await self.app(scope, receive, send)
        return status[0], bytes(body)


async def timed(client: Client, url: str, headers: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    status, body = await client.get(url, headers)
    elapsed = time.perf_counter() - started
    if status != 200:
        raise SystemExit(f"{url}: {status} {body[:300]!r}")
    return elapsed


async def pairs(world: World, rounds: int, warmup: int) -> list[tuple[str, float, float]]:
    """(name, page median, API median) of each page and its API call."""
    token = world.tokens["maire-pouzols"]
    invitation = f"/api/v1/invitations/{token}"
    bearer = {"Authorization": f"Bearer {world.coordinator}"}
    events = len(world.engine.journal(world.circuit)[0])
    cases = [("landing /s/{t}", f"/s/{token}", invitation, None),
             ("landing, rendered each time (information)", f"/s/{token}", invitation,
              None),
             ("reading /s/{t}/document", f"/s/{token}/document", invitation, None),
             ("signing /s/{t}/signer", f"/s/{token}/signer", invitation, None),
             ("dashboard /c/{t}", f"/c/{world.coordinator}", "/api/v1/circuits/bench",
              bearer),
             (f"journal /c/{{t}}/journal, {events} events (information)",
              f"/c/{world.coordinator}/journal", "/api/v1/circuits/bench", bearer),
             # last: each download journals an "opened" event
             ("PDF download /s/{t}/telecharger", f"/s/{token}/telecharger",
              f"{invitation}/document", None)]
    client = Client(world.app)
    results = []
    for name, page, api, headers in cases:
        page_headers = None
        for _ in range(warmup):
            await timed(client, page, page_headers)
            await timed(client, api, headers)
        page_times, api_times = [], []
        fresh = "rendered each time" in name
        for i in range(rounds):  # in turn first, so that neither always follows
            if fresh:
                world.app.state.portal.forget_pages()
            if i % 2:
                page_times.append(await timed(client, page, page_headers))
                api_times.append(await timed(client, api, headers))
            else:
                api_times.append(await timed(client, api, headers))
                page_times.append(await timed(client, page, page_headers))
        results.append((name, statistics.median(page_times), statistics.median(api_times)))
    return results


def previews(world: World, pages: int) -> tuple[float, float, int]:
    """(median first rendering, median cached serve, renders for 8 simultaneous requests
    of one cold page), timed through the app in-process."""
    shutil.rmtree(world.previews, ignore_errors=True)
    token = world.tokens["maire-pouzols"]

    async def run() -> tuple[list[float], list[float]]:
        client = Client(world.app)
        await timed(client, f"/s/{token}/document")  # the layout, read once
        first = [await timed(client, f"/s/{token}/document/page-{n}.png")
                 for n in range(1, pages + 1)]
        cached = [await timed(client, f"/s/{token}/document/page-{n}.png")
                  for _ in range(5) for n in range(1, pages + 1)]
        return first, cached

    first, cached = asyncio.run(run())
    cache = world.app.state.portal.previews
    view = world.engine.status(world.circuit)
    cold = pages + 1
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        done = list(pool.map(lambda _: cache.page(view.head.sha256, cold,
                                                  lambda: world.engine.head_bytes(
                                                      world.circuit, view.head))[1],
                             range(8)))
    return statistics.median(first), statistics.median(cached), sum(done)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--package", type=Path, help="a built package (with --data)")
    parser.add_argument("--data", type=Path, help="its convention YAML")
    parser.add_argument("--rounds", type=int, default=200, help="timed calls per side")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--pages", type=int, default=6, help="pages rendered for (c)")
    args = parser.parse_args(argv)
    if args.package and not args.data:
        parser.error("--package needs --data")
    package, data = package_for(args)

    from ctgdocs.demo import demo_subjects
    from ctgdocs.load import load_convention
    from signers.demo_pki import create_demo_pki
    from signers.services import listening_socket, running_services

    with tempfile.TemporaryDirectory(prefix="ctg-bench-portal-") as tmp:
        folder = Path(tmp)
        people, seal = demo_subjects(load_convention(data))
        sock = listening_socket()  # bound before the certificates name its port
        pki = create_demo_pki(people, folder / "pki", organisation_seal=seal,
                              services_url=f"http://127.0.0.1:{sock.getsockname()[1]}")
        with running_services(pki.directory, sock=sock) as services:
            say("starting the circuit and accepting 3 signatures…")
            world = World(folder, package, data, services.tsa_url, pki)
            for who in SIGNERS:
                world.sign(who)
            say(f"timing pages and API calls ({args.rounds} rounds each)…")
            results = asyncio.run(pairs(world, args.rounds, args.warmup))
            say(f"rendering {args.pages} previews, then serving them from the cache…")
            first, cached, renders = previews(world, args.pages)
            world.engine.store.dispose()
    _report(results, first, cached, renders, args)
    return 0


def _report(results: list[tuple[str, float, float]], first: float, cached: float,
            renders: int, args: argparse.Namespace) -> None:
    width = max(len(name) for name, _, _ in results) + 2
    print(f"(a)/(b) page against the API call showing the same data: median of "
          f"{args.rounds} calls in-process, milliseconds")
    print(f"{'case'.ljust(width)}{'page':>9}{'API':>9}{'ratio':>8}  target")
    for name, page, api in results:
        ratio = page / api
        info = "(information)" in name
        verdict = "" if info else ("ok" if ratio <= PAGE_TARGET else "MISSED")
        target = "—" if info else f"≤ {PAGE_TARGET:.2f} {verdict}"
        print(f"{name.ljust(width)}{page * 1000:9.2f}{api * 1000:9.2f}{ratio:8.2f}  {target}")
    ratio = cached / first
    print()
    print(f"(c) previews over {args.pages} pages (median), milliseconds")
    print(f"{'first rendering (pdftoppm)':<{width}}{first * 1000:9.1f}")
    print(f"{'served from the cache':<{width}}{cached * 1000:9.2f}")
    print(f"{'ratio cached / first':<{width}}{ratio:9.3f}  ≤ {PREVIEW_TARGET:.2f} "
          f"{'ok' if ratio <= PREVIEW_TARGET else 'MISSED'}")
    print(f"{'renders for 8 simultaneous requests':<{width}}{renders:9d}  = 1 "
          f"{'ok' if renders == 1 else 'MISSED'}")


if __name__ == "__main__":
    raise SystemExit(main())
