"""Fallback when Python cannot ``import uno``: one ``soffice --convert-to`` per batch."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from types import TracebackType

from ctgdocs.convert.base import (
    PDFA_CLI_FILTER,
    ConversionJob,
    Progress,
    check_inputs,
    docx_weight,
    install_pdf,
    names,
    remove_outputs,
    tail,
)
from ctgdocs.convert.office import (
    INSTALL_HINT,
    acquire_profile,
    find_soffice,
    office_program,
    product_version,
)
from ctgdocs.exceptions import ConversionError
from ctgdocs.runner import ProgramTimeout, run

RESTART_STATUS = 81  # soffice.bin after creating a new profile: run it again
FLAGS = ["--headless", "--invisible", "--norestore", "--nolockcheck", "--nodefault",
         "--nologo", "--nofirststartwizard"]


def balance(jobs: Sequence[ConversionJob], workers: int) -> list[list[ConversionJob]]:
    """Split ``jobs`` into at most ``workers`` batches of similar cost, biggest first."""
    batches: list[list[ConversionJob]] = [[] for _ in range(min(workers, len(jobs)))]
    loads = [0] * len(batches)
    for job in sorted(jobs, key=lambda j: docx_weight(j.docx), reverse=True):
        lightest = loads.index(min(loads))
        batches[lightest].append(job)
        loads[lightest] += docx_weight(job.docx) + 20_000  # fixed cost per document
    return batches


def convert_batches(program: Path, jobs: Sequence[ConversionJob], *, workers: int,
                    timeout: float, progress: Progress | None) -> None:
    """Convert ``jobs`` with up to ``workers`` parallel ``soffice`` runs, one per batch."""
    written: list[ConversionJob] = []
    failure: BaseException | None = None
    with ThreadPoolExecutor(workers, "ctgdocs-soffice") as pool:
        futures = [pool.submit(_convert_batch, program, batch, timeout)
                   for batch in balance(jobs, workers)]
        for future in as_completed(futures):
            try:
                batch = future.result()
            except BaseException as e:  # keep collecting: other batches wrote PDFs
                failure = failure or e
                continue
            written.extend(batch)
            if failure is None and progress is not None:
                for job in batch:
                    progress(job)
    if failure is not None:
        remove_outputs(written)
        raise failure


class CliConverter:
    """Local workers through ``soffice --convert-to`` (used when ``uno`` is missing)."""

    destinations = False
    """Ignores :attr:`ConversionJob.destinations` (every file of a batch gets the same
    export options)."""

    def __init__(self, *, workers: int | None = None, timeout: float = 120.0) -> None:
        self.soffice = find_soffice()
        self.program = office_program(self.soffice)
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.timeout = timeout

    def describe(self) -> str:
        """E.g. ``"LibreOffice 7.4.7.2, 2 local workers (soffice --convert-to)"``."""
        version = product_version(self.program)
        what = f"LibreOffice {version.full}" if version else f"LibreOffice ({self.soffice})"
        return f"{what}, {self.workers} local workers (soffice --convert-to)"

    def start(self) -> None:
        """Nothing to warm up: each batch starts its own ``soffice``."""

    def set_workers(self, workers: int) -> None:
        """Run up to ``workers`` ``soffice`` batches at once."""
        self.workers = max(1, workers)

    def stop_soon(self) -> None:
        """Nothing to do: no process outlives a ``convert`` call."""

    def restart_failed(self) -> list[str]:
        """Nothing to restart: no process is kept between calls."""
        return []

    def close(self) -> None:
        """Nothing to release between calls."""

    def __enter__(self) -> CliConverter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def convert(self, jobs: Iterable[ConversionJob],
                progress: Progress | None = None) -> None:
        """Convert ``jobs`` to PDF/A-2b; see :class:`~ctgdocs.convert.Converter`
        (a generator is consumed first: batches need every document)."""
        jobs = list(jobs)
        check_inputs(jobs)
        if jobs:
            convert_batches(self.program, jobs, workers=self.workers, timeout=self.timeout,
                            progress=progress)


def _convert_batch(program: Path, batch: list[ConversionJob],
                   timeout: float) -> list[ConversionJob]:
    profile = acquire_profile(program)
    workdir = Path(tempfile.mkdtemp(prefix="ctgdocs-convert-"))
    try:
        inputs = [workdir / f"{i}.docx" for i in range(len(batch))]
        for link, job in zip(inputs, batch, strict=True):
            link.symlink_to(job.docx.resolve())
        args: list[Path | str] = [
            program, *FLAGS, f"-env:UserInstallation={profile.url}",
            "--convert-to", PDFA_CLI_FILTER, "--outdir", workdir / "out", *inputs]
        output = _run_soffice(args, batch, timeout)
        return _install(batch, inputs, workdir / "out", output)
    finally:
        profile.release()
        shutil.rmtree(workdir, ignore_errors=True)


def _run_soffice(args: list[Path | str], batch: list[ConversionJob], timeout: float) -> str:
    try:
        done = run(args, timeout=timeout)
        if done.returncode == RESTART_STATUS:
            done = run(args, timeout=timeout)
    except ProgramTimeout as e:
        raise ConversionError(
            f"LibreOffice did not finish converting {names(batch)} within {timeout:g} s "
            "and was stopped. Open the documents in LibreOffice to check them, or raise "
            f"the conversion timeout.\nLibreOffice output:\n{tail(e.output)}") from None
    except OSError as e:
        raise ConversionError(f"cannot run {args[0]}: {e}; install LibreOffice: "
                              f"{INSTALL_HINT}") from e
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise ConversionError(
            f"LibreOffice exited with status {done.returncode} while converting "
            f"{names(batch)}.\nLibreOffice output:\n{tail(output)}")
    return output


def _install(batch: list[ConversionJob], inputs: list[Path], outdir: Path,
             output: str) -> list[ConversionJob]:
    missing = [job for job, src in zip(batch, inputs, strict=True)
               if not (outdir / f"{src.stem}.pdf").is_file()]
    if missing:
        raise ConversionError(f"LibreOffice produced no PDF for {names(missing)}; open "
                              f"them in LibreOffice to check them.\nLibreOffice output:\n"
                              f"{tail(output)}")
    installed: list[ConversionJob] = []
    try:
        for job, src in zip(batch, inputs, strict=True):
            install_pdf(job, outdir / f"{src.stem}.pdf")
            installed.append(job)
    except BaseException:
        remove_outputs(installed)
        raise
    return installed
