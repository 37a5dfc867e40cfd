# ctgdocs — set-up, demo, tests, benchmarks. Every target is idempotent.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := libreoffice-writer-nogui python3-uno libjemalloc2 fonts-noto-core fonts-dejavu-core \
	poppler-utils qpdf softhsm2 opensc python3-venv python3-pip \
	postgresql chromium
DATA ?= examples/vallee-herault/convention.yaml

.PHONY: setup system-packages venv bytecode demo test lint bench clean

setup: system-packages venv bytecode

system-packages:
	@if dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
		echo "system packages: present"; \
	else \
		echo "system packages: installing $(APT_PACKAGES)"; \
		export DEBIAN_FRONTEND=noninteractive; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq --no-install-recommends $(APT_PACKAGES); \
	fi

# Debian's python3 with system site packages: LibreOffice's `uno` module is importable
# (unoserver needs it).
venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || /usr/bin/python3 -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

# An editable install leaves ctgdocs and signers uncompiled, and Python writes no
# bytecode when PYTHONDONTWRITEBYTECODE is set (as on some CI runners): every `ctg` would
# compile them again (about 40 ms). compileall skips what is up to date.
bytecode: venv
	@$(PY) -m compileall -q ctgdocs signers

demo: setup
	$(VENV)/bin/ctg demo $(DATA)

lint: setup
	$(VENV)/bin/ruff check ctgdocs signers tests bench examples
	$(VENV)/bin/mypy ctgdocs signers

# The verification, tamper and signing tests — and the circuit's acceptance check and the
# archive's verification, which judge signatures too — run twice: with the speed-ups (as
# ctg runs) and on pyHanko's plain path alone (SIGNERS_SPEEDUPS=off);
# tests/test_speedups.py checks that both paths agree verdict for verdict.
SPEEDUP_TESTS := tests/test_verify.py tests/test_tamper.py tests/test_sign.py \
	tests/test_circuit_acceptance.py tests/test_archive_verify.py

test: setup lint
	$(VENV)/bin/pytest -q
	SIGNERS_SPEEDUPS=off $(VENV)/bin/pytest -q $(SPEEDUP_TESTS)

bench: setup
	$(PY) bench/build.py
	$(PY) bench/sign.py
	$(PY) bench/circuit.py
	$(PY) bench/portal.py
	$(PY) bench/archive.py

clean:
	rm -rf output .bench .pytest_cache .mypy_cache .ruff_cache
