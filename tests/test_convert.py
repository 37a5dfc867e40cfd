"""Conversion stage: real LibreOffice and unoserver, stand-in ``soffice`` programs for faults."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from docx import Document

from ctgdocs.convert import ConversionJob, libreoffice_version, make_converter
from ctgdocs.exceptions import ConversionError, MissingDependencyError

STAND_INS = Path(__file__).parent / "resources" / "stand-ins"
UNOSERVER = Path(sys.executable).parent / "unoserver"

pytestmark = pytest.mark.slow


def _make_docx(path: Path, title: str, rows: int) -> Path:
    document = Document()
    document.add_heading(title, 0)
    document.add_paragraph("Convention territoriale globale — engagements réciproques. " * 20)
    table = document.add_table(rows=rows, cols=3)
    table.style = "Table Grid"
    for r, row in enumerate(table.rows):
        for c, cell in enumerate(row.cells):
            cell.text = f"ligne {r}, colonne {c} : {100 * r + c} €"
    document.save(str(path))
    return path


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two small Word documents generated with python-docx."""
    folder = tmp_path_factory.mktemp("docx")
    return [_make_docx(folder / "annexe-gignac.docx", "Annexe — Gignac", 12),
            _make_docx(folder / "annexe-aniane.docx", "Annexe — Aniane", 40)]


@pytest.fixture(autouse=True)
def profile_cache(tmp_path_factory: pytest.TempPathFactory,
                  monkeypatch: pytest.MonkeyPatch) -> Path:
    """One LibreOffice profile cache for the whole session, outside the user's home."""
    cache = tmp_path_factory.getbasetemp() / "lo-cache"
    monkeypatch.setenv("CTGDOCS_CACHE", str(cache))
    monkeypatch.delenv("CTGDOCS_SOFFICE", raising=False)
    return cache


@pytest.fixture(params=["uno", "cli"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with the UNO-driven workers, then with ``soffice --convert-to``."""
    monkeypatch.setenv("CTGDOCS_CONVERT_MODE", request.param)
    return str(request.param)


def _jobs(docs: list[Path], outdir: Path) -> list[ConversionJob]:
    return [ConversionJob(d.stem, d, outdir / f"{d.stem}.pdf") for d in docs]


def _assert_pdfa2b(pdf: Path) -> None:
    meta = subprocess.run(["pdfinfo", "-meta", pdf], capture_output=True, text=True,
                          check=True).stdout
    assert "<pdfaid:part>2</pdfaid:part>" in meta
    assert "<pdfaid:conformance>B</pdfaid:conformance>" in meta
    fonts = subprocess.run(["pdffonts", pdf], capture_output=True, text=True,
                           check=True).stdout.splitlines()[2:]
    assert fonts, f"{pdf.name} uses no fonts?"
    for line in fonts:  # name type [type2] encoding emb sub uni id gen
        assert line.split()[-5] == "yes", f"font not embedded in {pdf.name}: {line}"


def _use_stand_in(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("PATH", f"{STAND_INS / name}{os.pathsep}{os.environ['PATH']}")


def _is_gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


# -- local LibreOffice ---------------------------------------------------------------------

def test_libreoffice_version() -> None:
    assert libreoffice_version().split(".")[0].isdigit()


def test_version_read_from_the_installation_matches_soffice_version() -> None:
    """Profiles are seeded with the version read from main.xcd, without starting soffice."""
    from ctgdocs.convert.office import find_soffice, office_program, product_version

    version = product_version(office_program(find_soffice()))
    assert version is not None
    assert version.full == libreoffice_version()
    assert version.full.startswith(version.setup + ".") and version.setup.count(".") == 1


def test_profile_settings_come_from_the_installation() -> None:
    from ctgdocs.convert.office import (
        find_soffice,
        office_program,
        product_version,
        profile_settings,
    )

    program = office_program(find_soffice())
    settings = {s.name: s for s in profile_settings(program)}
    version = product_version(program)
    assert version is not None and settings["ooSetupLastVersion"].value == version.setup
    flags = settings["Flags"]
    assert "'MS Word 2007 XML'" in flags.path
    assert {"IMPORT", "EXPORT", "ALIEN"} <= set(flags.value)
    assert "SUPPORTSSIGNING" not in flags.value


def test_seeding_a_profile_keeps_its_other_settings_and_rewrites_only_changes(
        tmp_path: Path) -> None:
    """LibreOffice rewrites registrymodifications.xcu on exit (lists as ``<it>`` items);
    seeding again after that, or after an upgrade, changes only what must change."""
    from ctgdocs.convert.office import Setting, seed_profile

    flags = Setting("/org.openoffice.TypeDetection.Filter/Filters/org.openoffice."
                    "TypeDetection.Filter:Filter['MS Word 2007 XML']", "Flags",
                    ("IMPORT", "EXPORT", "ALIEN"))
    version = Setting("/org.openoffice.Setup/Product", "ooSetupLastVersion", "7.4")
    xcu = tmp_path / "user" / "registrymodifications.xcu"
    seed_profile(tmp_path, [version, flags])
    text = xcu.read_text(encoding="utf-8")
    assert text.count("<item ") == 2 and text.rstrip().endswith("</oor:items>")
    assert "<value><it>IMPORT</it><it>EXPORT</it><it>ALIEN</it></value>" in text
    assert "<value>7.4</value>" in text
    # what LibreOffice adds is kept, and an unchanged profile is not written again
    other = ('<item oor:path="/org.openoffice.Office.Common/Misc"><prop oor:name="FirstRun" '
             'oor:op="fuse"><value>false</value></prop></item>\n')
    xcu.write_text(text.replace("</oor:items>", other + "</oor:items>"), encoding="utf-8")
    before = xcu.stat()
    seed_profile(tmp_path, [version, flags])
    after = xcu.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    # a new version and new flags replace the old values, once each
    seed_profile(tmp_path, [Setting(version.path, version.name, "24.2"),
                            Setting(flags.path, flags.name, ("IMPORT", "EXPORT"))])
    text = xcu.read_text(encoding="utf-8")
    assert text.count("<item ") == 3 and other in text
    assert "<value>24.2</value>" in text and "7.4" not in text
    assert "<value><it>IMPORT</it><it>EXPORT</it></value>" in text and "ALIEN" not in text


def test_workers_do_not_set_up_gnupg(docs: list[Path], outdir: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """As installed, LibreOffice checks every .docx it opens for signatures, and its first
    check runs gpgconf (three times), gpg and gpgsm; ctgdocs' profiles turn that off, for
    the UNO workers and for ``soffice --convert-to`` alike. GnuPG is replaced by a
    stand-in that records its runs."""
    from ctgdocs.convert.office import (
        find_soffice,
        office_program,
        profile_settings,
        seed_profile,
    )
    from ctgdocs.convert.uno_office import RESTART_STATUS

    log = tmp_path / "gnupg.log"
    monkeypatch.setenv("GNUPG_STAND_IN_LOG", str(log))
    _use_stand_in(monkeypatch, "gnupg")
    program = office_program(find_soffice())
    plain = tmp_path / "plain-profile"  # the version only: LibreOffice's own filter flags
    seed_profile(plain, [s for s in profile_settings(program) if s.name != "Flags"])
    args = [program, "--headless", f"-env:UserInstallation={plain.as_uri()}",
            "--convert-to", "pdf", "--outdir", tmp_path / "plain", docs[0]]
    for _ in range(2):  # a new profile: the first start only creates it
        if subprocess.run(args, capture_output=True, timeout=120).returncode != RESTART_STATUS:
            break
    assert (tmp_path / "plain" / f"{docs[0].stem}.pdf").is_file()
    assert "gpgconf" in log.read_text()
    log.unlink()
    for mode in ("uno", "cli"):
        monkeypatch.setenv("CTGDOCS_CONVERT_MODE", mode)
        (outdir / mode).mkdir()
        make_converter(jobs=1, timeout=60).convert(_jobs(docs, outdir / mode))
        assert len(list((outdir / mode).glob("*.pdf"))) == 2
    assert not log.exists()


def test_local_converts_to_pdfa2b_with_embedded_fonts(docs: list[Path], outdir: Path,
                                                      mode: str) -> None:
    converter = make_converter(jobs=2, timeout=60)
    assert "LibreOffice" in converter.describe() and "2 local workers" in converter.describe()
    finished: list[str] = []
    converter.convert(_jobs(docs, outdir), progress=lambda job: finished.append(job.name))
    assert sorted(finished) == ["annexe-aniane", "annexe-gignac"]
    for pdf in sorted(outdir.iterdir()):
        _assert_pdfa2b(pdf)
    assert sorted(p.name for p in outdir.iterdir()) == ["annexe-aniane.pdf",
                                                        "annexe-gignac.pdf"]


def test_warm_workers_are_reused_across_calls(docs: list[Path], outdir: Path) -> None:
    with make_converter(jobs=1, timeout=60) as converter:
        converter.convert(_jobs(docs[:1], outdir))
        converter.convert(_jobs(docs[1:], outdir))
    assert len(list(outdir.glob("*.pdf"))) == 2


def test_stopped_workers_leave_no_pipe_in_tmp(docs: list[Path], outdir: Path) -> None:
    """LibreOffice leaves its two pipes in /tmp when stopped by a signal; we remove them
    (and only them: the names are computed, then checked against what it created)."""
    from ctgdocs.convert.local import LocalConverter

    with LocalConverter(workers=2, timeout=60) as converter:
        converter.convert(_jobs(docs, outdir))
        pipes = [path for w in converter._pool for path in w.office.pipe_files()]
        assert sum(path.exists() for path in pipes) == 4  # 2 per worker, our names
    assert not [path for path in pipes if path.exists()]


def test_stop_soon_lets_the_workers_quit_without_waiting(docs: list[Path],
                                                         outdir: Path) -> None:
    """``ctg build`` asks LibreOffice to quit once the last document is converted and
    finishes the package meanwhile: ``stop_soon`` returns even while a worker cannot quit
    yet (here stopped with SIGSTOP, its SIGTERM pending); ``close`` then finds the
    workers gone."""
    from ctgdocs.convert.local import LocalConverter

    with LocalConverter(workers=2, timeout=60) as converter:
        converter.convert(_jobs(docs, outdir))
        pids = [w.office.proc.pid for w in converter._pool]
        os.kill(pids[0], signal.SIGSTOP)
        converter.stop_soon()
        assert not _is_gone(pids[0])  # stop_soon did not wait for it
        os.kill(pids[0], signal.SIGCONT)
        assert _wait_until(lambda: all(_is_gone(pid) for pid in pids))
    assert len(list(outdir.glob("*.pdf"))) == 2


def _wait_until(condition: Callable[[], bool], seconds: float = 60) -> bool:
    """Wait for ``condition`` (a generous limit, not a measure of anything)."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


_FIRST_CALLS = """
import sys, threading
from pathlib import Path
from ctgdocs.convert.uno_office import Office

folder, docx, pipes = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
together = threading.Barrier(len(pipes))
errors = []

def use(i, pipe):
    office = Office.__new__(Office)  # attached to a running office instead of starting one
    office.pipe, office.timed_out, office.log_path = pipe, False, folder / f"{i}.log"
    try:
        together.wait(30)
        office.desktop = office._try_connect()
        together.wait(30)
        office.convert(docx, folder / f"{i}.pdf", 60)
    except Exception as e:
        errors.append(repr(e))
        together.abort()

threads = [threading.Thread(target=use, args=(i, p)) for i, p in enumerate(pipes)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(*errors)
"""


def test_first_uno_calls_of_a_process_are_not_made_by_two_threads_at_once(
        docs: list[Path], tmp_path: Path) -> None:
    """A build's workers connect and convert in parallel threads. PyUNO's first look at a
    UNO type in a process must not be shared by two threads: it then lost a worker to
    "AttributeError: getCount" (or "createInstanceWithContext") in 7 % of the processes.
    40 new processes each connect to the same two running offices from two threads at
    once and convert."""
    from ctgdocs.convert.local import LocalConverter

    with LocalConverter(workers=2, timeout=60) as converter:
        for worker in converter._pool:
            worker.ready.result()
        pipes = [worker.office.pipe for worker in converter._pool]
        failures = []
        for _ in range(40):
            child = subprocess.run([sys.executable, "-c", _FIRST_CALLS, tmp_path, docs[0],
                                    *pipes], capture_output=True, text=True, timeout=120)
            if child.returncode or child.stdout.strip():
                failures.append(child.stdout.strip() or child.stderr[-500:])
    assert not failures, failures


@pytest.mark.parametrize("switch", ["on", "off"])
def test_workers_use_jemalloc_unless_switched_off(docs: list[Path], outdir: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  switch: str) -> None:
    """LibreOffice runs with jemalloc (installed by `make setup`) as its allocator:
    about 8 % less CPU. ``CTGDOCS_JEMALLOC=off`` runs it with glibc's. Same PDFs."""
    from ctgdocs.convert.local import LocalConverter

    monkeypatch.setenv("CTGDOCS_JEMALLOC", switch)
    with LocalConverter(workers=1, timeout=60) as converter:
        converter.convert(_jobs(docs, outdir))
        maps = Path(f"/proc/{converter._pool[0].office.proc.pid}/maps").read_text()
    assert ("libjemalloc.so" in maps) == (switch == "on")
    for pdf in outdir.glob("*.pdf"):
        _assert_pdfa2b(pdf)


def test_workers_can_be_added_and_removed_once_started(docs: list[Path], outdir: Path) -> None:
    """``ctg build`` starts one worker while the data loads, then as many as it needs."""
    from ctgdocs.convert.local import LocalConverter

    with LocalConverter(workers=1, timeout=60) as converter:
        converter.set_workers(2)
        assert len(converter._pool) == 2 and "2 local workers" in converter.describe()
        converter.convert(_jobs(docs, outdir))
        pids = {w.office.proc.pid for w in converter._pool}
        assert len(pids) == 2 and not any(_is_gone(pid) for pid in pids)
        converter.set_workers(1)
        assert len(converter._pool) == 1
        assert sum(_is_gone(pid) for pid in pids) == 1
        converter.convert(_jobs(docs[:1], outdir))
    assert all(_is_gone(pid) for pid in pids)
    for doc in docs:
        _assert_pdfa2b(outdir / f"{doc.stem}.pdf")


def test_bad_document_fails_and_removes_what_the_call_wrote(docs: list[Path],
                                                             outdir: Path, tmp_path: Path,
                                                             mode: str) -> None:
    broken = tmp_path / "annexe-cassee.docx"
    broken.write_bytes(b"PK\x03\x04 this is not a zip archive at all")
    jobs = _jobs([docs[0], broken], outdir)
    with pytest.raises(ConversionError, match="annexe-cassee.docx") as failed:
        make_converter(jobs=1, timeout=60).convert(jobs)
    assert list(outdir.iterdir()) == []
    if mode == "uno":  # the document at fault, for the build to know which one failed
        assert failed.value.job == "annexe-cassee"


def test_frozen_libreoffice_is_killed_after_the_timeout(docs: list[Path],
                                                        outdir: Path) -> None:
    converter = make_converter(jobs=1, timeout=3)
    converter.start()
    worker = converter._pool[0]  # type: ignore[attr-defined]  # inject the fault
    worker.ready.result()
    os.kill(worker.office.proc.pid, signal.SIGSTOP)
    with pytest.raises(ConversionError, match=r"did not finish converting annexe-aniane\.docx "
                                              r"\(annexe-aniane\) within 3 s") as failed:
        converter.convert(_jobs(docs, outdir))
    assert failed.value.job == "annexe-aniane"
    converter.close()
    assert list(outdir.iterdir()) == []
    assert _is_gone(worker.office.proc.pid)


def test_jobs_from_a_generator_are_converted_while_it_renders(tmp_path: Path, outdir: Path,
                                                              mode: str) -> None:
    def render() -> Iterator[ConversionJob]:
        for i in range(3):
            docx = _make_docx(tmp_path / f"annexe-{i}.docx", f"Annexe {i}", 5 + 10 * i)
            yield ConversionJob(f"annexe-{i}", docx, outdir / f"annexe-{i}.pdf")

    finished: list[str] = []
    with make_converter(jobs=2, timeout=60) as converter:
        converter.convert(render(), progress=lambda job: finished.append(job.name))
    assert sorted(finished) == ["annexe-0", "annexe-1", "annexe-2"]
    for pdf in outdir.iterdir():
        _assert_pdfa2b(pdf)


def test_failing_progress_callback_leaves_no_output(docs: list[Path], outdir: Path) -> None:
    def explode(job: ConversionJob) -> None:
        raise RuntimeError(f"progress bar broke on {job.name}")

    with pytest.raises(RuntimeError, match="progress bar broke"):
        make_converter(jobs=2, timeout=60).convert(_jobs(docs, outdir), progress=explode)
    assert list(outdir.iterdir()) == []


# -- stand-ins -----------------------------------------------------------------------------

def test_hanging_soffice_is_killed_with_its_children(docs: list[Path], outdir: Path,
                                                     tmp_path: Path, mode: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _use_stand_in(monkeypatch, "hang")
    pids = tmp_path / "pids"
    monkeypatch.setenv("CTGDOCS_STANDIN_PIDS", str(pids))
    with pytest.raises(ConversionError) as caught:
        make_converter(jobs=1, timeout=3).convert(_jobs(docs, outdir))
    message = str(caught.value)
    assert "within 3 s" in message
    assert "annexe-gignac.docx" in message and "annexe-aniane.docx" in message
    assert list(outdir.iterdir()) == []
    leftovers = [int(p) for p in pids.read_text().split()]
    assert _wait_until(lambda: all(map(_is_gone, leftovers))), \
        f"processes left behind: {leftovers}"


def test_failing_soffice_reports_document_and_output(docs: list[Path], outdir: Path,
                                                     mode: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _use_stand_in(monkeypatch, "fail")
    with pytest.raises(ConversionError) as caught:
        make_converter(jobs=2, timeout=3).convert(_jobs(docs[:1], outdir))
    message = str(caught.value)
    assert "exited with status 1" in message
    assert "annexe-gignac.docx" in message
    assert "simulated failure" in message
    assert list(outdir.iterdir()) == []


def test_missing_soffice_gives_the_install_command(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingDependencyError, match="apt-get install libreoffice-writer-nogui"):
        libreoffice_version()
    with pytest.raises(MissingDependencyError, match="apt-get install"):
        make_converter()


def test_soffice_can_be_chosen_by_environment(docs: list[Path], outdir: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTGDOCS_SOFFICE", str(STAND_INS / "fail" / "soffice"))
    with pytest.raises(ConversionError, match="simulated failure"):
        make_converter(jobs=1, timeout=3).convert(_jobs(docs[:1], outdir))


# -- unoserver -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def unoserver_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real unoserver on 127.0.0.1 with its own profile, stopped at the end.

    Its XML-RPC server listens on a port the system chooses (``--port 0``), read from
    ``/proc``. LibreOffice's UNO port must be named in advance: a candidate is taken, and
    unoserver is started again on another one unless its own LibreOffice is the process
    found listening on it (another process may have taken it meanwhile)."""
    folder = tmp_path_factory.mktemp("unoserver")
    for _ in range(5):
        uno_port = _unused_port()
        server = _start_unoserver(folder, uno_port)
        try:
            port = _unoserver_port(server, uno_port, folder / "unoserver.log")
        except BaseException:
            _stop_unoserver(server, folder)
            raise
        if port is not None:
            break
        _stop_unoserver(server, folder)
    else:
        pytest.fail(f"unoserver did not start on a UNO port of its own: "
                    f"{(folder / 'unoserver.log').read_text(errors='replace')[-2000:]}")
    try:
        yield f"unoserver://127.0.0.1:{port}"
    finally:
        _stop_unoserver(server, folder)


def _unused_port() -> int:
    """A port no process listens on now (a candidate only: see :func:`unoserver_url`)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_unoserver(folder: Path, uno_port: int) -> subprocess.Popen[bytes]:
    with (folder / "unoserver.log").open("wb") as log:
        return subprocess.Popen(
            [UNOSERVER, "--interface", "127.0.0.1", "--port", "0",
             "--uno-port", str(uno_port), "--user-installation", folder / "profile"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _unoserver_port(server: subprocess.Popen[bytes], uno_port: int, log: Path) -> int | None:
    """The XML-RPC port of ``server`` once it answers there; ``None`` when another
    process holds ``uno_port`` (its LibreOffice could not listen there)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            return None
        listeners = _listeners()
        mine = _socket_inodes({server.pid})
        own = {port for port, inodes in listeners.items() if inodes & mine}
        office = _socket_inodes(_descendants(server.pid))
        if uno_port in listeners and not listeners[uno_port] & office:
            return None  # another process listens there
        if len(own) == 1 and uno_port in listeners:
            port = own.pop()
            try:
                with xmlrpc.client.ServerProxy(f"http://127.0.0.1:{port}") as proxy:
                    proxy.info()
                return port
            except OSError:
                pass
        time.sleep(0.25)
    pytest.fail(f"unoserver did not answer within 120 s: "
                f"{log.read_text(errors='replace')[-2000:]}")


def _stop_unoserver(server: subprocess.Popen[bytes], folder: Path) -> None:
    server.terminate()
    try:
        server.wait(15)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):  # its LibreOffice too
        os.killpg(server.pid, signal.SIGKILL)
    server.wait()
    # its LibreOffice, stopped by a signal, leaves its single-instance pipe in /tmp
    from ctgdocs.convert.uno_office import office_pipe_files

    for pipe in office_pipe_files((folder / "profile").as_uri()):
        pipe.unlink(missing_ok=True)


def _all_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").glob("[0-9]*")]


def _descendants(pid: int) -> set[int]:
    """The processes started by ``pid``, and by them, and so on."""
    parents: dict[int, int] = {}
    for child in _all_pids():
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = Path(f"/proc/{child}/stat").read_text()
            parents[child] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        for child, its_parent in parents.items():
            if its_parent == parent and child not in found:
                found.add(child)
                todo.append(child)
    return found


def _socket_inodes(pids: set[int]) -> set[str]:
    """The sockets the processes ``pids`` hold (inode numbers, from ``/proc``)."""
    inodes = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[len("socket:["):-1])
    return inodes


def _listeners() -> dict[int, set[str]]:
    """Every TCP port something listens on, with the inodes of its sockets."""
    ports: dict[int, set[str]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                ports.setdefault(int(fields[1].rsplit(":", 1)[1], 16), set()).add(fields[9])
    return ports


def test_unoserver_converts_to_pdfa2b(unoserver_url: str, docs: list[Path],
                                      outdir: Path) -> None:
    converter = make_converter(unoserver_url, jobs=2, timeout=60)
    finished: list[str] = []
    converter.convert(_jobs(docs, outdir), progress=lambda job: finished.append(job.name))
    assert sorted(finished) == ["annexe-aniane", "annexe-gignac"]
    for pdf in outdir.iterdir():
        _assert_pdfa2b(pdf)
    assert "unoserver 3" in converter.describe()


def test_unreachable_unoserver(docs: list[Path], outdir: Path) -> None:
    with socket.socket() as taken:  # bound, not listening: connections are refused
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        with pytest.raises(ConversionError) as caught:
            make_converter(f"unoserver://127.0.0.1:{port}", timeout=5).convert(
                _jobs(docs, outdir))
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert "unoserver --interface 127.0.0.1 --port" in str(caught.value)
    assert list(outdir.iterdir()) == []


@pytest.mark.parametrize("url", ["http://127.0.0.1:2003", "unoserver://", "unoserver://h:x"])
def test_bad_converter_url(url: str) -> None:
    with pytest.raises(ConversionError, match="unoserver://"):
        make_converter(url)


def test_an_office_that_exits_while_starting_is_judged_by_its_start_up(tmp_path: Path) -> None:
    """A worker whose office has exited before its start-up thread saw it is still
    starting: it may be LibreOffice restarting in a new profile, and if it failed, its
    reason comes from that thread. (Replaced at once, it was replaced without a reason.)"""
    from concurrent.futures import Future

    from ctgdocs.convert.local import LocalConverter, _get_ready, _Worker
    from ctgdocs.convert.office import acquire_profile
    from ctgdocs.convert.uno_office import Office, OfficeError

    with LocalConverter(workers=1, timeout=60) as converter:
        profile = acquire_profile(converter.program)
        workdir = tmp_path / "worker"
        workdir.mkdir()
        office = Office(STAND_INS / "fail" / "soffice", profile.url, workdir)
        office.proc.wait(10)
        ready: Future[None] = Future()
        worker = _Worker(office, profile, workdir, ready)
        converter._pool.append(worker)
        assert not office.alive and worker.usable and not converter.warm()
        assert converter.restart_failed() == [] and worker in converter._pool
        try:  # what the start-up thread does
            _get_ready(office, 10, warm_up=False)
        except OfficeError as e:
            ready.set_exception(e)
        assert not worker.usable
        reasons = converter.restart_failed()
        assert len(reasons) == 1 and "exited with status 1 before it was ready" in reasons[0]
        assert "simulated failure" in reasons[0]
        assert worker not in converter._pool and len(converter._pool) == 1


def test_a_worker_that_fails_to_start_is_reported_and_replaced(
        docs: list[Path], outdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A worker of a converter kept warm (``ctg build --watch``) that fails to start (here
    the first start of a stand-in) is reported with its reason and replaced between two
    uses, and the converter converts with the new one."""
    from concurrent.futures import wait

    from ctgdocs.convert.local import LocalConverter

    real = Path(shutil.which("soffice") or "soffice").resolve().with_name("soffice.bin")
    monkeypatch.setenv("CTGDOCS_SOFFICE", str(STAND_INS / "fail-once" / "soffice"))
    monkeypatch.setenv("REAL_SOFFICE", str(real))
    monkeypatch.setenv("STAND_IN_STATE", str(tmp_path))
    caplog.set_level("WARNING", logger="ctgdocs.convert.local")
    with LocalConverter(workers=2, timeout=60) as converter:
        wait([w.ready for w in converter._pool], timeout=120)
        assert (tmp_path / "failed-once").is_dir()  # one start did fail
        assert not converter.warm()
        reasons = converter.restart_failed()
        assert len(reasons) == 1 and "exited with status 1 before it was ready" in reasons[0]
        assert "simulated" in reasons[0]
        assert "a LibreOffice worker failed to start; another one is starting" in caplog.text
        wait([w.ready for w in converter._pool], timeout=120)
        assert converter.warm() and len(converter._pool) == 2
        converter.convert(_jobs(docs, outdir))
    for doc in docs:
        _assert_pdfa2b(outdir / f"{doc.stem}.pdf")
