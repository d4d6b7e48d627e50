.PHONY: setup test unit lint lint-workflows demo demo-keep bench lock

# The lock: hash-pinned runtime and build dependencies, installed with --require-hashes by every
# workflow job and by action.yml. `--universal` keeps it valid on every CPython the package
# supports (the workflows run 3.12 on ubuntu-24.04; developers may have 3.11 or 3.13).
LOCK_FLAGS = --universal --python-version 3.11 --generate-hashes --custom-compile-command "make lock" --quiet
PYTHON_SOURCES = bot tests bench sandbox scripts/action .github/workflow_lint.py .github/workflow_expressions.py

# apt packages and .venv; `make test` adds what only its status-page screenshot test needs
# (Chromium, a CJK font): a target-specific variable, so its prerequisites' set-up gets it too.
SETUP_FLAGS =
setup:
	./scripts/setup.sh $(SETUP_FLAGS)

# ruff; the layers (import-linter's contracts in pyproject.toml); types over bot/ (mypy, settings in
# pyproject.toml); the workflows.
lint: setup
	.venv/bin/ruff check $(PYTHON_SOURCES)
	.venv/bin/lint-imports --no-cache
	.venv/bin/mypy
	.venv/bin/python .github/workflow_lint.py

lint-workflows: setup
	.venv/bin/python .github/workflow_lint.py

# Everything CI checks: the linters, then both tiers of tests.
test: SETUP_FLAGS = --for-tests
test: lint
	.venv/bin/python -m pytest -q

# The quick loop: no processes, no sockets, under a minute.
unit: setup
	.venv/bin/python -m pytest -q tests/unit

demo: setup
	.venv/bin/python -m sandbox.demo

# The demo, then its registries stay up (until Ctrl-C) to try plan and sync on them.
demo-keep: setup
	.venv/bin/python -m sandbox.demo --keep

bench: setup
	.venv/bin/pip install --quiet -e '.[bench]'
	.venv/bin/python -m bench.run
	.venv/bin/python -m bench.allowlist_scale
	.venv/bin/python -m bench.first_comment

# Regenerate requirements/*.txt after a dependency changes in pyproject.toml (pins stay where they
# are unless a changed requirement needs a new one; `make lock UPGRADE=--upgrade` moves them all).
lock: setup
	.venv/bin/pip install --quiet 'uv==0.13.9'
	.venv/bin/uv pip compile pyproject.toml $(LOCK_FLAGS) $(UPGRADE) -o requirements/runtime.txt
	.venv/bin/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")' \
		| .venv/bin/uv pip compile - $(LOCK_FLAGS) $(UPGRADE) -o requirements/build.txt
	.venv/bin/uv pip compile requirements/lint.in -c requirements/runtime.txt $(LOCK_FLAGS) $(UPGRADE) \
		-o requirements/lint.txt
