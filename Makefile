.PHONY: setup test lint demo bench

setup:
	./scripts/setup.sh

lint: setup
	.venv/bin/ruff check bot tests bench

test: setup
	.venv/bin/ruff check bot tests bench
	.venv/bin/python -m pytest -q

demo: setup
	.venv/bin/python -m tests.sandbox.demo

bench: setup
	.venv/bin/pip install --quiet -e '.[bench]'
	.venv/bin/python -m bench.run
