"""The ``ctg`` face: exit codes for bad data, help texts, start-up cost."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ctgdocs.cli import build_parser, main
from ctgdocs.exceptions import ExitCode

ROOT = Path(__file__).resolve().parent.parent
INVALID = sorted((ROOT / "tests" / "resources" / "invalid").glob("*.yaml"))


@pytest.mark.parametrize("data", INVALID, ids=lambda p: p.stem)
def test_check_invalid_data_exits_with_data_error(data: Path, capsys) -> None:
    assert main(["check", str(data)]) == ExitCode.DATA_ERROR
    err = capsys.readouterr().err
    assert "problem" in err
    assert re.search(rf"^  {re.escape(str(data))}:\d+:\d+[ :]", err, re.M), err


def test_build_invalid_data_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["build", str(INVALID[0]), "-o", str(out)]) == ExitCode.DATA_ERROR
    assert not out.exists()


def test_every_command_has_help() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    names = set(sub.choices)  # type: ignore[union-attr]
    assert {"check", "build", "check-templates", "demo", "demo-pki", "demo-services",
            "sign", "seal", "verify"} <= names
    for name in names:
        assert sub.choices[name].format_help()  # type: ignore[union-attr]


def test_cli_starts_without_importing_pyhanko() -> None:
    code = ("import sys, ctgdocs.cli; ctgdocs.cli.build_parser(); "
            "print(any(m.startswith('pyhanko') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


def test_unknown_command_is_a_usage_error() -> None:
    proc = subprocess.run([sys.executable, "-m", "ctgdocs", "frobnicate"],
                          capture_output=True, text=True)
    assert proc.returncode == ExitCode.USAGE


def test_output_that_is_a_file_is_an_io_error(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    data = ROOT / "examples" / "vallee-herault" / "convention.yaml"
    assert main(["build", str(data), "-o", str(blocker)]) == ExitCode.IO_ERROR
    assert "not-a-folder" in capsys.readouterr().err


def test_missing_templates_are_a_template_error(tmp_path: Path, capsys) -> None:
    data = ROOT / "examples" / "vallee-herault" / "convention.yaml"
    code = main(["build", str(data), "-o", str(tmp_path / "out"), "--templates",
                 str(tmp_path)])
    assert code == ExitCode.TEMPLATE_ERROR
    assert "template not found" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_check_templates_cli(tmp_path: Path, capsys) -> None:
    import shutil

    for name in ("convention.docx", "annexe-commune.docx"):
        shutil.copy(ROOT / "templates" / name, tmp_path / name)
    assert main(["check-templates", str(tmp_path)]) == ExitCode.OK
    shutil.copy(ROOT / "tests" / "resources" / "templates" / "undeclared-variable.docx",
                tmp_path / "annexe-commune.docx")
    assert main(["check-templates", str(tmp_path)]) == ExitCode.TEMPLATE_ERROR
    err = capsys.readouterr().err
    assert 'paragraph 3: undeclared variable "commune.maire_nom"' in err


def test_pinned_certificate_fingerprints_reach_the_expected_signer(tmp_path: Path) -> None:
    from ctgdocs.exceptions import DataError
    from ctgdocs.load import load_convention
    from ctgdocs.signatories import expected_signers

    text = (ROOT / "tests" / "resources" / "minimal.yaml").read_text(encoding="utf-8")
    pin = "AB:" * 31 + "AB"
    data = tmp_path / "pinned.yaml"
    data.write_text(text.replace("      email: maire@aniane.fr\n",
                                 f"      email: maire@aniane.fr\n"
                                 f"      certificates: ['{pin}']\n", 1), encoding="utf-8")
    expected = {e.field: e for e in expected_signers(load_convention(data))}
    assert expected["maire-aniane"].fingerprints == ("ab" * 32,)
    data.write_text(text.replace("      email: maire@aniane.fr\n",
                                 "      email: maire@aniane.fr\n"
                                 "      certificates: ['not-a-fingerprint']\n", 1),
                    encoding="utf-8")
    with pytest.raises(DataError) as err:
        load_convention(data)
    assert "communes[0].mayor.certificates: not a SHA-256 certificate fingerprint" in str(
        err.value.problems)


def test_every_exception_carries_its_exit_code() -> None:
    import inspect

    from ctgdocs import exceptions as cx
    from ctgdocs.cli import exit_code_for
    from signers import exceptions as sx

    for module, base in ((cx, cx.CtgError), (sx, sx.SignersError)):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, base):
                code = ExitCode(cls.exit_code)  # a value of the documented table
                assert exit_code_for(cls.__new__(cls)) == code
    assert sx.CredentialsError.exit_code == ExitCode.CREDENTIALS_ERROR
    assert sx.SigningRefused.exit_code == ExitCode.SIGNING_REFUSED
    assert sx.SigningError.exit_code == ExitCode.SIGNING_ERROR
    assert sx.VerificationError.exit_code == ExitCode.VERIFICATION_FAILED
    assert sx.FieldError.exit_code == ExitCode.BUILD_ERROR
    assert sx.MissingDependencyError.exit_code == ExitCode.MISSING_DEPENDENCY
    assert exit_code_for(ValueError()) == ExitCode.INTERNAL_ERROR


@pytest.mark.parametrize("args, message", [
    (["-j", "0"], "'0' is not a number of workers"),
    (["-j", "two"], "'two' is not a number of workers"),
    (["--timeout", "0"], "'0' is not a number of seconds above 0"),
    (["--timeout", "nan"], "'nan' is not a number of seconds above 0"),
    (["--converter", "http://127.0.0.1:2003"], "is not a unoserver URL"),
    (["--converter", "unoserver://host:port"], "is not a unoserver URL"),
])
def test_bad_build_options_are_usage_errors(tmp_path: Path, capsys, args: list[str],
                                            message: str) -> None:
    data = ROOT / "examples" / "vallee-herault" / "convention.yaml"
    with pytest.raises(SystemExit) as exited:
        main(["build", str(data), "-o", str(tmp_path / "out"), *args])
    assert exited.value.code == ExitCode.USAGE
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_build_options_are_checked() -> None:
    from ctgdocs.build import BuildOptions, ConvertMode

    options = BuildOptions(output_root="out", jobs=2, timeout=5, convert_mode="cli",  # type: ignore[arg-type]
                           converter="unoserver://127.0.0.1:2003")
    assert options.output_root == Path("out") and options.timeout == 5.0
    assert options.convert_mode is ConvertMode.CLI
    for bad in ({"jobs": 0}, {"jobs": True}, {"timeout": -1}, {"timeout": float("inf")},
                {"converter": "unoserver://"}, {"convert_mode": "fast"}):
        with pytest.raises(ValueError):
            BuildOptions(**bad)  # type: ignore[arg-type]


PROBE = '''
from ctgdocs import cli, commands


def register(sub):
    p = sub.add_parser("probe")
    # The interrupt lands in code run by exec() of a string, as it can while
    # dataclasses or typing-inspection build their functions during an import.
    p.set_defaults(run=lambda args: exec(
        "import os, signal\\nos.kill(os.getpid(), signal.SIG{0})\\nwhile True:\\n    pass"))


commands.COMMANDS.append(register)
cli.run()
'''


@pytest.mark.parametrize("sig", ["TERM", "INT"])
def test_an_interrupt_inside_exec_code_still_exits_130(tmp_path: Path, sig: str) -> None:
    """SIGTERM or Ctrl-C ends ``python -m ctgdocs`` with 130 even when the signal lands
    in code run by ``exec`` of a string: CPython would otherwise remember the
    KeyboardInterrupt, caught or not, and end the process by SIGINT (status -2). A stand-in
    command raises the signal against itself there; ``python -m`` is the runner that
    honours that memory."""
    (tmp_path / "ctg_probe.py").write_text(PROBE.format(sig), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    proc = subprocess.run([sys.executable, "-m", "ctg_probe", "probe"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == ExitCode.INTERRUPTED, proc.stderr
    assert proc.stderr.strip() == "ctg: interrupted"
