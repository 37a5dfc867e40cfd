"""Local conversion: several headless LibreOffice workers, each with its own profile."""

from __future__ import annotations

import logging
import os
import queue
import shutil
import tempfile
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from ctgdocs.convert.base import (
    ConversionJob,
    Progress,
    biggest_first,
    check_inputs,
    check_job,
    install_pdf,
    names,
    remove_outputs,
    tail,
)
from ctgdocs.convert.office import (
    INSTALL_HINT,
    Profile,
    acquire_profile,
    find_soffice,
    office_program,
    product_version,
)
from ctgdocs.convert.uno_office import Office, OfficeError
from ctgdocs.exceptions import ConversionError

log = logging.getLogger(__name__)


@dataclass
class _Worker:
    """One office process with its profile, private folder and start-up future."""

    office: Office
    profile: Profile
    workdir: Path
    ready: Future[None]

    @property
    def usable(self) -> bool:
        """Still starting, or started and running (not failed, killed or exited).

        While it starts, its start-up thread alone decides whether it failed: an office
        that exits then may be restarting (LibreOffice's first start in a new profile),
        and one that failed is reported with its reason once the thread has it."""
        if not self.ready.done():
            return True
        return self.ready.exception() is None and self.office.alive

    def close(self) -> None:
        self.office.stop()
        self.profile.release()
        shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class _Event:
    """What a worker thread tells the calling thread."""

    job: ConversionJob | None = None
    error: OfficeError | None = None
    at_startup: bool = False
    produced: Path | None = None
    """The PDF the worker wrote in its private folder, for the caller to check and move."""


class _Run:
    """The state of one :meth:`LocalConverter.convert` call, owned by the calling thread
    (worker threads only use ``pending``, ``events`` and ``stop``)."""

    def __init__(self, workers: int, progress: Progress | None) -> None:
        self.pending: queue.SimpleQueue[ConversionJob | None] = queue.SimpleQueue()
        self.events: queue.SimpleQueue[_Event] = queue.SimpleQueue()
        self.stop = threading.Event()
        self.progress = progress
        self.running = workers
        self.submitted: list[ConversionJob] = []
        self.written: list[ConversionJob] = []
        """Jobs whose PDF is in place."""
        self.failure: _Event | None = None
        """The first failure, a document's rather than a worker start-up's."""

    def handle(self, event: _Event) -> None:
        """Install a finished PDF, or note that a worker thread ended."""
        if event.error is None and event.job is not None:
            assert event.produced is not None
            install_pdf(event.job, event.produced)
            self.written.append(event.job)
            event.produced.unlink()
            if self.progress is not None:
                self.progress(event.job)
            return
        self.running -= 1
        if event.error is None:
            return
        if not event.at_startup:
            self.stop.set()
        if self.failure is None or self.failure.at_startup:
            self.failure = event

    def handle_ready_events(self) -> None:
        """Handle the events already there, without waiting."""
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return
            self.handle(event)


class LocalConverter:
    """Converts with ``workers`` local LibreOffice processes driven over UNO.

    The processes start on :meth:`start` (or the first :meth:`convert`) and pull
    documents from one queue, biggest first. After :meth:`start` (or as a context
    manager) they stay warm across calls until :meth:`close`; otherwise
    :meth:`convert` stops them before returning."""

    destinations = True
    """Honours :attr:`ConversionJob.destinations`."""

    def __init__(self, *, workers: int | None = None, timeout: float = 120.0) -> None:
        self.soffice = find_soffice()
        self.program = office_program(self.soffice)
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.timeout = timeout
        self._executor: ThreadPoolExecutor | None = None
        self._pool: list[_Worker] = []
        self._finalizer = weakref.finalize(self, _close_all, self._pool)

    def describe(self) -> str:
        """E.g. ``"LibreOffice 7.4.7.2, 2 local workers"``."""
        version = product_version(self.program)
        what = f"LibreOffice {version.full}" if version else f"LibreOffice ({self.soffice})"
        plural = "s" if self.workers > 1 else ""
        return f"{what}, {self.workers} local worker{plural}"

    def start(self) -> None:
        """Start the workers now, without waiting for them (call it before rendering):
        they start, then warm up on a one-line document while the caller works."""
        self._start(warm_up=True)

    def warm(self) -> bool:
        """Every worker has started (and warmed up); False before :meth:`start`."""
        return bool(self._pool) and all(w.ready.done() and w.ready.exception() is None
                                        for w in self._pool)

    def restart_failed(self) -> list[str]:
        """Start a new worker in place of each one that failed to start or has exited (the
        new ones warm up meanwhile: call it between two uses of a converter kept warm);
        return why those that failed to start failed (each is also logged)."""
        if self._executor is None:
            return []
        return self._start(warm_up=True)

    def set_workers(self, workers: int) -> None:
        """Use ``workers`` processes from now on: if started, start the missing ones now
        (they warm up meanwhile) and stop the extra ones."""
        self.workers = max(1, workers)
        if self._executor is None:
            return
        while len(self._pool) > self.workers:
            self._pool.pop().close()
        self._start(warm_up=True)

    def _start(self, warm_up: bool) -> list[str]:
        """Start workers up to :attr:`workers`, in place of those no longer usable; why
        those that failed to start failed (logged: nothing else would report it)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(2 * self.workers, "ctgdocs-lo")
        reasons = [reason for w in self._pool if not w.usable
                   and (reason := _start_failure(w)) is not None]
        for reason in reasons:
            log.warning("a LibreOffice worker failed to start; another one is starting: %s",
                        reason)
        self._pool[:] = [w for w in self._pool if w.usable or _discard(w)]
        while len(self._pool) < self.workers:
            self._pool.append(self._launch(self._executor, warm_up))
        return reasons

    def _launch(self, executor: ThreadPoolExecutor, warm_up: bool) -> _Worker:
        profile = acquire_profile(self.program)
        workdir = Path(tempfile.mkdtemp(prefix="ctgdocs-convert-"))
        try:
            office = Office(self.program, profile.url, workdir)
        except OSError as e:
            profile.release()
            shutil.rmtree(workdir, ignore_errors=True)
            raise ConversionError(f"cannot run {self.program}: {e}; "
                                  f"reinstall LibreOffice: {INSTALL_HINT}") from e
        ready = executor.submit(_get_ready, office, self.timeout, warm_up)
        return _Worker(office, profile, workdir, ready)

    def stop_soon(self) -> None:
        """Ask every worker to quit (SIGTERM), without waiting."""
        for worker in self._pool:
            worker.office.request_stop()

    def close(self) -> None:
        """Stop every worker and release its profile."""
        _close_all(self._pool)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def __enter__(self) -> LocalConverter:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def convert(self, jobs: Iterable[ConversionJob],
                progress: Progress | None = None) -> None:
        """Convert ``jobs`` to PDF/A-2b; see :class:`~ctgdocs.convert.Converter`.

        A sequence is converted biggest document first. Any other iterable (e.g. a
        generator that renders each document) is consumed while the workers already
        convert the documents it yielded, so rendering and conversion overlap."""
        if isinstance(jobs, Sequence):
            check_inputs(jobs)
            if not jobs:
                return
            jobs = biggest_first(jobs)
        owned = self._executor is None
        self._start(warm_up=False)
        try:
            self._convert_all(iter(jobs), progress)
        finally:
            if owned:
                self.close()

    def _convert_all(self, jobs: Iterator[ConversionJob], progress: Progress | None) -> None:
        assert self._executor is not None
        run = _Run(len(self._pool), progress)
        threads = [self._executor.submit(self._drain, worker, run) for worker in self._pool]
        try:
            self._feed(jobs, run)
            while run.running:
                run.handle(_next_event(run, threads))
        except BaseException as exc:  # a bad job, progress() raised, Ctrl-C
            run.stop.set()
            if not isinstance(exc, Exception):  # Ctrl-C, SIGTERM: stop now, not after
                for worker in self._pool:       # the documents under way
                    worker.office.kill()
            wait(threads)
            remove_outputs(run.written)
            raise
        missing = [job for job in run.submitted if job not in run.written]
        if missing or (run.failure is not None and not run.failure.at_startup):
            remove_outputs(run.written)
            raise self._error(run.failure, missing)

    def _feed(self, jobs: Iterator[ConversionJob], run: _Run) -> None:
        """Queue the jobs as ``jobs`` yields them, handling finished documents meanwhile."""
        seen: set[Path] = set()
        try:
            for job in jobs:
                check_job(job, seen)
                run.submitted.append(job)
                run.pending.put(job)
                run.handle_ready_events()
                if run.stop.is_set() or not run.running:
                    break
        finally:
            for _ in range(len(self._pool)):
                run.pending.put(None)

    def _drain(self, worker: _Worker, run: _Run) -> None:
        """Worker thread: convert queued jobs until the end marker or another failed.
        Whatever happens, it ends by putting exactly one event without a finished job."""
        try:
            worker.ready.result()
        except Exception as e:
            error = e if isinstance(e, OfficeError) else OfficeError(f"failed to start: {e}")
            run.events.put(_Event(error=error, at_startup=True))
            return
        job: ConversionJob | None = None
        try:
            while (job := run.pending.get()) is not None and not run.stop.is_set():
                produced = worker.workdir / f"{id(job)}.pdf"
                worker.office.convert(job.docx, produced, self.timeout, job.destinations)
                run.events.put(_Event(job=job, produced=produced))
            run.events.put(_Event())
        except OfficeError as e:
            run.events.put(_Event(job=job, error=e))
        except BaseException as e:  # e.g. OSError; never leave the caller waiting
            run.events.put(_Event(job=job, error=OfficeError(str(e) or type(e).__name__)))

    def _error(self, failure: _Event | None, missing: list[ConversionJob]) -> ConversionError:
        not_done = f"Not converted: {names(missing)}; no PDF of this run was kept."
        if failure is None or failure.error is None:
            return ConversionError(f"LibreOffice stopped before finishing. {not_done}")
        error = failure.error
        output = f"\nLibreOffice output:\n{tail(error.output)}" if error.output.strip() else ""
        if failure.at_startup:
            hint = ("It may be stuck; check that `soffice --headless --version` answers."
                    if error.timed_out else f"Reinstall it if needed: {INSTALL_HINT}")
            return ConversionError(
                f"LibreOffice ({self.program}) {error} and could not convert "
                f"{names(missing)}. {hint}{output}")
        job = failure.job
        if job is None:
            return ConversionError(f"LibreOffice {error}. {not_done}{output}")
        if error.timed_out:
            return ConversionError(
                f"LibreOffice did not finish converting {job.docx.name} ({job.name}) within "
                f"{self.timeout:g} s and was stopped. Open the document in LibreOffice to "
                f"check it, or raise the conversion timeout. {not_done}", job=job.name)
        return ConversionError(
            f"LibreOffice could not convert {job.docx.name} ({job.name}): {error}. "
            f"{not_done}{output}", job=job.name)


def _next_event(run: _Run, threads: list[Future[None]]) -> _Event:
    """The next worker event; a worker thread that died silently is a failure too."""
    while True:
        try:
            return run.events.get(timeout=1.0)
        except queue.Empty:
            if all(t.done() for t in threads) and run.events.empty():
                errors = [str(t.exception()) for t in threads if t.exception()]
                return _Event(error=OfficeError(f"worker stopped: {'; '.join(errors)}"))


def _get_ready(office: Office, timeout: float, warm_up: bool) -> None:
    office.connect(timeout)
    if warm_up:
        office.warm_up(timeout)


def _start_failure(worker: _Worker) -> str | None:
    """Why ``worker`` failed to start (with the end of what LibreOffice printed), if it
    did."""
    error = worker.ready.exception() if worker.ready.done() else None
    if error is None:
        return None
    output = getattr(error, "output", "")
    return f"{error}" + (f"\n{tail(output, 5)}" if output.strip() else "")


def _discard(worker: _Worker) -> bool:
    worker.close()
    return False


def _close_all(pool: list[_Worker]) -> None:
    for worker in pool:
        worker.office.request_stop()
    while pool:
        pool.pop().close()
