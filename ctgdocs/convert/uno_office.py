"""One headless LibreOffice process driven over a private UNO pipe: start, convert, stop."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ctgdocs.convert.base import PDF_EXPORT_FILTER, PDFA_VERSION, WORD_IMPORT_FILTER
from ctgdocs.runner import kill_group

#: soffice.bin exits with this status after creating a new profile: start it again.
RESTART_STATUS = 81
_POLL = 0.01
_PIPE_WAIT = 2.0
"""Seconds to wait for the office's pipe file before connecting without it."""
_PIPE_FOLDERS = ("/tmp", "/var/tmp")
"""Where LibreOffice creates its pipes (the first that is writable; $TMPDIR is ignored)."""

_first_use = threading.RLock()
_used: set[str] = set()
"""Kinds of UNO objects this process has already used: see :func:`_alone_first_time`."""


class OfficeError(Exception):
    """The office process failed; ``output`` is what it printed, ``timed_out`` if killed."""

    def __init__(self, message: str, output: str = "", timed_out: bool = False) -> None:
        super().__init__(message)
        self.output = output
        self.timed_out = timed_out


def _uno() -> Any:
    """PyUNO, imported when first needed (to connect): loading the UNO runtime takes
    10 ms that starting the office need not wait for."""
    import uno  # type: ignore[import-not-found]  # Debian python3-uno

    return uno


def _prop(name: str, value: Any) -> Any:
    _uno()
    from com.sun.star.beans import PropertyValue  # type: ignore[import-not-found]

    return PropertyValue(Name=name, Value=value)


def _load_properties(docx: Path) -> tuple[Any, ...]:
    """Hidden and read-only; a ``.docx`` is read as Word 2007+ only (a damaged file then
    fails to open instead of being imported as plain text)."""
    props: tuple[Any, ...] = (_prop("Hidden", True), _prop("ReadOnly", True))
    if docx.suffix.lower() == ".docx":
        props += (_prop("FilterName", WORD_IMPORT_FILTER),)
    return props


def _export_properties(destinations: bool = False) -> tuple[Any, ...]:
    options: tuple[Any, ...] = (_prop("SelectPdfVersion", PDFA_VERSION),)
    if destinations:
        options += (_prop("ExportBookmarksToPDFDestination", True),)
    data = _uno().Any("[]com.sun.star.beans.PropertyValue", options)
    return (_prop("FilterName", PDF_EXPORT_FILTER), _prop("FilterData", data),
            _prop("Overwrite", True))


class Office:
    """A ``soffice`` started at construction, listening on a pipe only this object knows."""

    def __init__(self, program: Path, profile_url: str, workdir: Path) -> None:
        self.program = program
        self.profile_url = profile_url
        self.log_path = workdir / "soffice.log"
        self.pipe = f"ctgdocs-{os.getpid()}-{os.urandom(6).hex()}"
        self.desktop: Any = None
        self.timed_out = False
        self.proc = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        args = [os.fspath(self.program), "--headless", "--invisible", "--norestore",
                "--nolockcheck", "--nodefault", "--nologo", "--nofirststartwizard",
                f"-env:UserInstallation={self.profile_url}",
                f"--accept=pipe,name={self.pipe};urp;StarOffice.ComponentContext"]
        with self.log_path.open("ab") as log_file:
            return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log_file,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    env=office_environment())

    @property
    def alive(self) -> bool:
        """The process is running (it may not be connected yet)."""
        return self.proc.poll() is None

    def output(self) -> str:
        """Everything the process printed so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def connect(self, timeout: float) -> None:
        """Wait until the office answers on its pipe; raise :class:`OfficeError` if it
        exits or does not answer within ``timeout`` seconds (then it is killed)."""
        started = time.monotonic()
        deadline = started + timeout
        restarted = False
        while True:
            try:
                # a connection attempt costs a millisecond of CPU: none before the pipe
                # exists (unless it is not where expected after a while)
                if self._pipe_created() or time.monotonic() - started > _PIPE_WAIT:
                    self.desktop = self._try_connect()
                    return
                last = "its pipe is not created yet"
            except Exception as e:  # NoConnectException, or a bridge set up too early
                last = getattr(e, "Message", "") or type(e).__name__
            status = self.proc.poll()
            if status == RESTART_STATUS and not restarted:
                restarted, self.proc = True, self._spawn()
            elif status is not None:
                raise OfficeError(f"exited with status {status} before it was ready",
                                  self.output())
            elif time.monotonic() > deadline:
                self.kill()
                raise OfficeError(f"did not start within {timeout:g} s (last: {last})",
                                  self.output(), timed_out=True)
            time.sleep(_POLL)

    def _pipe_created(self) -> bool:
        return any(path.exists() for path in _pipe_paths(self.pipe))

    def _try_connect(self) -> Any:
        with _alone_first_time("connection"):
            local = _uno().getComponentContext()
            resolver = local.ServiceManager.createInstanceWithContext(
                "com.sun.star.bridge.UnoUrlResolver", local)
            context = resolver.resolve(
                f"uno:pipe,name={self.pipe};urp;StarOffice.ComponentContext")
            return context.ServiceManager.createInstanceWithContext(
                "com.sun.star.frame.Desktop", context)

    def convert(self, docx: Path, pdf: Path, timeout: float,
                destinations: bool = False) -> None:
        """Write ``docx`` as PDF/A-2b to ``pdf`` (with its bookmarks as named destinations
        if ``destinations``); kill the office if it takes longer than ``timeout`` seconds.
        Raise :class:`OfficeError` on any failure."""
        watchdog = threading.Timer(timeout, self._expire)
        watchdog.daemon = True
        watchdog.start()
        try:
            self._convert(docx, pdf, destinations)
        except OfficeError:
            raise
        except Exception as e:  # UNO exceptions (IOException, DisposedException, ...)
            if self.timed_out:
                raise OfficeError(f"did not finish within {timeout:g} s", self.output(),
                                  timed_out=True) from e
            message = getattr(e, "Message", "") or type(e).__name__
            raise OfficeError(f"failed: {message}", self.output()) from e
        finally:
            watchdog.cancel()

    def _convert(self, docx: Path, pdf: Path, destinations: bool) -> None:
        uno = _uno()
        # the objects PyUNO meets are the document and its indexes: the export returns none
        with _alone_first_time("document"):
            document = self.desktop.loadComponentFromURL(
                uno.systemPathToFileUrl(os.fspath(docx.resolve())), "_blank", 0,
                _load_properties(docx))
            if document is None:
                raise OfficeError("could not open it (not a Word document?)", self.output())
            try:
                _update_indexes(document)
            except BaseException:
                document.close(True)
                raise
        try:
            document.storeToURL(uno.systemPathToFileUrl(os.fspath(pdf.resolve())),
                                _export_properties(destinations))
        finally:
            document.close(True)

    def warm_up(self, timeout: float) -> None:
        """Convert a one-line document, so that the Word import and PDF export code is
        loaded before the first real document arrives (~0.1 s saved per worker)."""
        sample = self.log_path.with_name("warm-up.docx")
        with zipfile.ZipFile(sample, "w") as zf:
            for name, text in _MINIMAL_DOCX.items():
                zf.writestr(name, text)
        self.convert(sample, sample.with_suffix(".pdf"), timeout)
        sample.with_suffix(".pdf").unlink(missing_ok=True)
        sample.unlink()

    def _expire(self) -> None:
        self.timed_out = True
        self.kill()

    def kill(self) -> None:
        """Kill the office and anything it started (its process group), and wait until
        they are gone."""
        kill_group(self.proc)

    def request_stop(self) -> None:
        """Ask the office to quit (SIGTERM: it shuts down in a few milliseconds)."""
        if self.alive:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass

    def stop(self, grace: float = 2.0) -> None:
        """Make sure the office is gone: ask it to quit, kill it after ``grace`` s; then
        remove the pipes it leaves behind."""
        self.request_stop()
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
        self.kill()
        self.proc.wait()
        for path in self.pipe_files():
            with contextlib.suppress(OSError):
                if stat.S_ISSOCK(path.lstat().st_mode):
                    path.unlink()

    def pipe_files(self) -> list[Path]:
        """Where the office's pipes may be: the one it accepts UNO on and its
        single-instance pipe. LibreOffice removes them when it quits through UNO, but
        not on SIGTERM (which is 25 ms faster); they are ours: nobody else uses the
        profile."""
        return [*office_pipe_files(self.profile_url), *_pipe_paths(self.pipe)]


def office_environment() -> dict[str, str]:
    """The environment of an office process: ours, with jemalloc as its memory allocator
    when installed (Debian's libjemalloc2) unless ``CTGDOCS_JEMALLOC=off``.

    LibreOffice allocates and frees small blocks all the time: glibc's allocator took a
    quarter of its CPU time converting the annexes, and jemalloc, keeping the memory it
    frees (no decay: a worker's memory stays at its peak), costs about 8 % less CPU for
    the same PDFs (`bench/build.py`)."""
    env = dict(os.environ)
    library = jemalloc()
    if library is not None:
        env["LD_PRELOAD"] = " ".join(filter(None, [os.fspath(library),
                                                   env.get("LD_PRELOAD", "")]))
        env["MALLOC_CONF"] = "dirty_decay_ms:-1,muzzy_decay_ms:-1"
    return env


def jemalloc() -> Path | None:
    """jemalloc's shared library if installed and not switched off (``CTGDOCS_JEMALLOC``)."""
    from ctgdocs.paths import switched_off

    if switched_off("CTGDOCS_JEMALLOC"):
        return None
    arch = getattr(sys.implementation, "_multiarch", None)  # sysconfig takes 8 ms
    if arch is None:
        import sysconfig

        arch = sysconfig.get_config_var("MULTIARCH") or ""
    for folder in (f"/usr/lib/{arch}", "/usr/lib64", "/usr/lib"):
        library = Path(folder) / "libjemalloc.so.2"
        if library.is_file():
            return library
    return None


def office_pipe_files(profile_url: str) -> list[Path]:
    """Where a LibreOffice using the profile ``profile_url`` puts its single-instance
    pipe: named after the MD5 of the URL in UTF-16, in unpadded hex."""
    digest = hashlib.md5(profile_url.encode("utf-16-le"), usedforsecurity=False)
    return _pipe_paths("SingleOfficeIPC_" + "".join(f"{b:x}" for b in digest.digest()))


def _pipe_paths(name: str) -> list[Path]:
    """Where LibreOffice may create the pipe called ``name``."""
    return [Path(folder) / f"OSL_PIPE_{os.getuid()}_{name}" for folder in _PIPE_FOLDERS]


_MINIMAL_DOCX = {
    "[Content_Types].xml":
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org'
        '/package/2006/content-types"><Default Extension="rels" ContentType="application/'
        'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
        '"application/xml"/><Override PartName="/word/document.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
    "_rels/.rels":
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
        'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://'
        'schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
        'Target="word/document.xml"/></Relationships>',
    "word/document.xml":
        '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.'
        'openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>ctgdocs</w:t>'
        '</w:r></w:p></w:body></w:document>',
}


def _update_indexes(document: Any) -> None:
    """Refresh tables of contents (twice: the first pass may move page numbers)."""
    supplier = getattr(document, "getDocumentIndexes", None)
    if supplier is None:
        return
    indexes = supplier()
    for _ in range(2 if indexes.getCount() else 0):
        for i in range(indexes.getCount()):
            with _alone_first_time("index"):
                indexes.getByIndex(i).update()


@contextlib.contextmanager
def _alone_first_time(kind: str) -> Iterator[None]:
    """Run the block alone until it has once succeeded in this process for ``kind``, then
    freely. PyUNO learns an interface's methods when it first meets an object of that type,
    and two threads meeting the same new type at once can get none or some of them
    ("AttributeError: getCount", "createInstanceWithContext. Did you mean
    'createInstanceWithArguments'?"): 7 of 100 starts of two workers lost one, 0 of 100
    since."""
    if kind in _used:
        yield
        return
    with _first_use:
        yield
        _used.add(kind)
