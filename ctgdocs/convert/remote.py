"""Remote conversion: send the Word documents to a running unoserver 3.x over XML-RPC."""

from __future__ import annotations

import http.client
import xmlrpc.client
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from pathlib import Path
from types import TracebackType
from typing import Any

from ctgdocs.convert.base import (
    PDF_EXPORT_FILTER,
    PDFA_VERSION,
    ConversionJob,
    Progress,
    biggest_first,
    check_inputs,
    check_job,
    install_pdf,
    names,
    remove_outputs,
)
from ctgdocs.exceptions import ConversionError

API_VERSION = "3"
DEFAULT_PORT = 2003
START_HINT = "start one with: unoserver --interface 127.0.0.1 --port {port}"


class _TimeoutTransport(xmlrpc.client.Transport):
    """An XML-RPC transport whose connections give up after ``timeout`` seconds."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        connection = super().make_connection(host)
        connection.timeout = self._timeout
        return connection


class UnoserverConverter:
    """Converts through ``unoserver`` at ``host:port``, up to ``jobs`` requests at once."""

    destinations = False
    """Ignores :attr:`ConversionJob.destinations`."""

    def __init__(self, host: str, port: int = DEFAULT_PORT, *, jobs: int | None = None,
                 timeout: float = 120.0) -> None:
        self.host = host
        self.port = port
        self.jobs = max(1, jobs or 2)
        self.timeout = timeout
        self._server_version: str | None = None

    @property
    def address(self) -> str:
        """``host:port``."""
        return f"{self.host}:{self.port}"

    def describe(self) -> str:
        """E.g. ``"unoserver 3.7 at 127.0.0.1:2003 (LibreOffice 7.4), 2 parallel requests"``."""
        what = self._server_version or "unoserver"
        return f"{what} at {self.address}, {self.jobs} parallel requests"

    def start(self) -> None:
        """Nothing to warm up: the server is already running."""

    def set_workers(self, workers: int) -> None:
        """Send up to ``workers`` requests at once."""
        self.jobs = max(1, workers)

    def stop_soon(self) -> None:
        """Nothing to do: the unoserver is not ours to stop."""

    def restart_failed(self) -> list[str]:
        """Nothing to restart: no process is kept between calls."""
        return []

    def close(self) -> None:
        """Nothing to release: every request has its own connection."""

    def __enter__(self) -> UnoserverConverter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _proxy(self, timeout: float | None = None) -> xmlrpc.client.ServerProxy:
        return xmlrpc.client.ServerProxy(
            f"http://{self.address}", allow_none=True,
            transport=_TimeoutTransport(timeout or self.timeout))

    def check(self) -> None:
        """Make sure the server answers and speaks unoserver API 3."""
        try:
            with self._proxy(timeout=min(self.timeout, 10.0)) as proxy:
                info: Any = proxy.info()
        except (OSError, xmlrpc.client.Error, http.client.HTTPException) as e:
            raise ConversionError(
                f"no unoserver answers at {self.address} ({e}); "
                + START_HINT.format(port=self.port)) from e
        if not isinstance(info, dict) or info.get("api") != API_VERSION:
            raise ConversionError(
                f"the server at {self.address} is not a unoserver speaking API "
                f"{API_VERSION} (it said {info!r:.100}); install unoserver 3.x there.")
        lo = info.get("libreoffice_version") or "?"
        self._server_version = f"unoserver {info.get('unoserver')} (LibreOffice {lo})"

    def convert(self, jobs: Iterable[ConversionJob],
                progress: Progress | None = None) -> None:
        """Convert ``jobs`` to PDF/A-2b; see :class:`~ctgdocs.convert.Converter`."""
        if isinstance(jobs, Sequence):
            check_inputs(jobs)
            if not jobs:
                return
            jobs = biggest_first(jobs)
        self.check()
        written: list[ConversionJob] = []  # appended by the request threads
        try:
            self._convert_all(iter(jobs), progress, written)
        except BaseException:  # the pool has waited for the requests in flight
            remove_outputs(written)
            raise

    def _convert_all(self, jobs: Iterator[ConversionJob], progress: Progress | None,
                     written: list[ConversionJob]) -> None:
        futures: dict[Future[None], ConversionJob] = {}
        seen: set[Path] = set()
        with ThreadPoolExecutor(self.jobs, "ctgdocs-unoserver") as pool:
            try:
                for job in jobs:
                    check_job(job, seen)
                    futures[pool.submit(self._convert_one, job, written)] = job
                self._collect(futures, progress)
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise

    def _collect(self, futures: dict[Future[None], ConversionJob],
                 progress: Progress | None) -> None:
        todo = set(futures)
        while todo:
            done, todo = wait(todo, return_when=FIRST_EXCEPTION)
            for future in done:
                error = future.exception()
                if error is not None:
                    missing = [futures[f] for f in todo] + [futures[future]]
                    raise self._annotate(error, missing)
                if progress is not None:
                    progress(futures[future])

    def _annotate(self, error: BaseException | None,
                  missing: list[ConversionJob]) -> BaseException:
        if isinstance(error, ConversionError):
            return ConversionError(f"{error} Not converted: {names(missing)}.")
        return error or ConversionError("unoserver conversion failed")

    def _convert_one(self, job: ConversionJob, written: list[ConversionJob]) -> None:
        data = xmlrpc.client.Binary(job.docx.read_bytes())
        try:
            with self._proxy() as proxy:
                result: Any = proxy.convert(
                    None, data, None, "pdf", PDF_EXPORT_FILTER,
                    [f"SelectPdfVersion={PDFA_VERSION}"], True, None, None)
        except TimeoutError as e:
            raise ConversionError(
                f"unoserver at {self.address} did not convert {job.docx.name} ({job.name}) "
                f"within {self.timeout:g} s; check the server, or raise the timeout.") from e
        except xmlrpc.client.Fault as e:
            raise ConversionError(
                f"unoserver at {self.address} could not convert {job.docx.name} "
                f"({job.name}): {e.faultString.strip()[-500:]}") from e
        except (OSError, http.client.HTTPException, xmlrpc.client.Error) as e:
            raise ConversionError(
                f"lost the unoserver at {self.address} while converting {job.docx.name} "
                f"({job.name}): {e}; " + START_HINT.format(port=self.port)) from e
        if not isinstance(result, xmlrpc.client.Binary):
            raise ConversionError(f"unoserver at {self.address} returned no PDF for "
                                  f"{job.docx.name} ({job.name}).")
        install_pdf(job, result.data)
        written.append(job)
