"""pytest plugin for the portal's tests in a real browser: the reference convention built
once with its demonstration PKI and services, a real SMTP server (aiosmtpd on a socket
bound to port 0), ``ctg circuit serve`` in a subprocess on the same store, Chromium
through Playwright, screenshots and the axe-core check."""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import os
import re
import secrets
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from fixtures_circuit import MailServer, mail_text
from fixtures_pki import services_url

from ctgdocs.build import BuildOptions, build_package
from ctgdocs.circuit.mailer import SmtpMailer
from ctgdocs.circuit.mails import dispatch
from ctgdocs.circuit.operations import StartedCircuit, start_circuit
from ctgdocs.circuit.service import load_settings, make_engine
from ctgdocs.demo import demo_subjects
from ctgdocs.load import load_convention
from signers.circuit.engine import CircuitEngine
from signers.demo_pki import DemoPki, create_demo_pki
from signers.services import RunningServices, listening_socket, running_services

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "examples" / "vallee-herault" / "convention.yaml"
SCREENSHOTS = ROOT / "output" / "screenshots"
"""Where the tests write their screenshots (git-ignored)."""
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--lang=fr-FR"]
VIEWPORTS = {"bureau": {"width": 1280, "height": 900},
             "telephone": {"width": 390, "height": 844}}
"""Desktop and phone widths (a 1280-pixel screen at 200 % zoom is 640 pixels wide:
between the two)."""
UPLOAD_MB = 3
"""Upload limit of the served portal (a signed reference package is about 0.8 MB)."""
COORDINATOR = ("Sophie Marty", "coordination@ccvh.example.fr")
MAIL_FROM = "Circuit de signature <ne-pas-repondre@ccvh.example.fr>"
_LINK = re.compile(r"http://127\.0\.0\.1:\d+/[sc]/[A-Za-z0-9_-]+")


def mail_link(message: EmailMessage) -> str:
    """The personal link in ``message``."""
    found = _LINK.search(mail_text(message))
    assert found is not None, mail_text(message)
    return found.group(0)


# -- the served world --------------------------------------------------------------------

@dataclass
class PortalWorld:
    """The reference package served by ``ctg circuit serve`` on its own store."""

    base: Path
    data: Path
    package: Path
    pki: DemoPki
    services: RunningServices
    store: Path
    url: str
    mail: MailServer
    engine: CircuitEngine
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    def start(self, *, deadline: dt.date | None = None) -> StartedCircuit:
        """A new circuit on the package, its invitations sent to the SMTP server."""
        started = start_circuit(self.engine, self.package, self.data, base_url=self.url,
                                deadline=deadline, circuit_id=f"ctg-{secrets.token_hex(4)}",
                                coordinator_name=COORDINATOR[0],
                                coordinator_email=COORDINATOR[1])
        dispatch(self.engine, SmtpMailer(self.mail.url), MAIL_FROM)
        return started

    def sign(self, pdf: Path, signatory: str, out: Path, *, field_name: str | None = None
             ) -> Path:
        """``pdf`` signed by ``signatory``'s demonstration key: with ``ctg sign`` in its
        own field, or in ``field_name`` (no identity check: a wrong-field file)."""
        if field_name is None:
            proc = subprocess.run(
                [sys.executable, "-m", "ctgdocs", "sign", str(pdf), "--as", signatory,
                 "--pkcs12", str(self.pki.pkcs12(signatory)), "--passphrase-env",
                 "CTG_TEST_PASSPHRASE", "--tsa", self.services.tsa_url, "--data",
                 str(self.data), "--trust", str(self.pki.root_cert), "-o", str(out)],
                capture_output=True, text=True, timeout=180,
                env={**self.env, "CTG_TEST_PASSPHRASE": self.pki.passphrase})
            assert proc.returncode == 0, proc.stdout + proc.stderr
            return out
        from signers.credentials import Pkcs12Credentials
        from signers.sign import sign_field

        credentials = Pkcs12Credentials(self.pki.pkcs12(signatory), self.pki.passphrase)
        # in a thread of its own: pyHanko runs an event loop, and Playwright's sync API
        # already runs one in this thread
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(sign_field, pdf, out, field_name, credentials,
                        tsa_url=self.services.tsa_url).result()
        return out

    def kinds(self, circuit: str) -> list[str]:
        """The kinds of the journal's events."""
        return [e.kind for e in self.engine.journal(circuit)[0]]


def _die_with_parent() -> None:
    """In the server's child process: receive SIGTERM when the test process dies, so
    that no server outlives a killed test run."""
    import ctypes
    import signal

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _served(cmd: list[str], env: dict[str, str], log: Path) -> tuple[subprocess.Popen[str], str]:
    """Start ``ctg circuit serve``; its process and the URL it printed."""
    with open(log, "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env,
                                start_new_session=True, preexec_fn=_die_with_parent)
    found: list[str] = []
    reader = threading.Thread(target=lambda: found.append(proc.stdout.readline()),  # type: ignore[union-attr]
                              daemon=True)
    reader.start()
    reader.join(60)
    if not found or not found[0].startswith("http://"):
        proc.kill()
        raise RuntimeError(f"ctg circuit serve did not start: {log.read_text()}")
    return proc, found[0].strip()


@pytest.fixture(scope="session")
def portal_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalWorld]:
    """The reference convention built with LibreOffice, a demonstration PKI for its 16
    signatories and its TSA/OCSP, an SMTP server, and ``ctg circuit serve`` (trusting
    the demonstration root, timestamping, sending mail, upload limit 3 MB)."""
    base = tmp_path_factory.mktemp("portal")
    built = build_package(REFERENCE, BuildOptions(output_root=base / "build"))
    people, seal = demo_subjects(load_convention(REFERENCE))
    sock = listening_socket()  # bound before the certificates name its port
    pki = create_demo_pki(people, base / "pki", organisation_seal=seal,
                          services_url=services_url(sock))
    env = dict(os.environ)
    with running_services(pki.directory, sock=sock) as services, MailServer() as mail:
        store = base / "store"
        cmd = [sys.executable, "-m", "ctgdocs", "circuit", "serve", "--store", str(store),
               "--host", "127.0.0.1", "--port", "0", "--trust", str(pki.root_cert), "--tsa",
               services.tsa_url, "--smtp", mail.url, "--max-upload-mb", str(UPLOAD_MB)]
        log = base / "serve.log"
        proc, url = _served(cmd, {**env, "CTGDOCS_MAIL_FROM": MAIL_FROM}, log)
        engine = make_engine(load_settings(store=str(store), trust=(pki.root_cert,),
                                           tsa=services.tsa_url))
        try:
            yield PortalWorld(base, REFERENCE, built.package, pki, services, store, url,
                              mail, engine, log, env)
        finally:
            engine.store.dispose()
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(30)


# -- the browser ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (headless; nothing downloaded). Per module:
    Playwright's synchronous API runs an event loop in the main thread while it is
    started, and the tests of other modules call ``asyncio.run`` there (pyHanko)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def open_page(chromium: Any) -> Iterator[Callable[..., Any]]:
    """``open_page(viewport="bureau", javascript=True)``: a new page in a fresh browser
    context (French locale, Paris time, downloads accepted)."""
    contexts: list[Any] = []

    def make(viewport: str = "bureau", javascript: bool = True) -> Any:
        context = chromium.new_context(viewport=VIEWPORTS[viewport], locale="fr-FR",
                                       timezone_id="Europe/Paris", accept_downloads=True,
                                       java_script_enabled=javascript)
        context.set_default_timeout(60_000)
        contexts.append(context)
        page = context.new_page()
        page.viewport_name = viewport
        page.javascript = javascript
        return page

    yield make
    for context in contexts:
        with contextlib.suppress(Exception):
            context.close()


def screenshot(page: Any, name: str, *, full: bool = True) -> Path:
    """Write ``output/screenshots/<name>-<viewport>.png`` (the whole page by default)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}-{page.viewport_name}.png"
    page.screenshot(path=str(path), full_page=full)
    return path


def accessibility_problems(page: Any) -> list[str]:
    """The serious and critical violations axe-core finds on ``page`` (WCAG 2.1 A/AA
    rules and best practices), one line each with where they are."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"resultTypes": ["violations"], "runOnly": {
        "type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa",
                                  "best-practice"]}})
    problems = []
    for violation in results.response["violations"]:
        if violation.get("impact") in ("serious", "critical"):
            where = [" ".join(node["target"]) for node in violation["nodes"][:5]]
            problems.append(f"{violation['id']} ({violation['impact']}): {violation['help']} "
                            f"— {where}")
    return problems


def overflows(page: Any) -> bool:
    """Whether the page is wider than the window (text cut or a sideways scroll)."""
    return bool(page.evaluate(
        "document.documentElement.scrollWidth > window.innerWidth + 1"))


def check_page(page: Any, name: str, *, full: bool = True) -> None:
    """Screenshot ``page``, then assert no sideways overflow and (when the page runs
    scripts: axe-core's checks never finish in a page with JavaScript off, so
    test_portal_a11y runs them on the same pages with it on) no serious or critical
    axe violation."""
    screenshot(page, name, full=full)
    assert not overflows(page), f"{name} ({page.viewport_name}) is wider than the window"
    if getattr(page, "javascript", True):
        problems = accessibility_problems(page)
        assert not problems, f"{name} ({page.viewport_name}): " + "\n".join(problems)
