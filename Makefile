.PHONY: setup test lint demo

setup:
	./scripts/setup.sh

lint: setup
	.venv/bin/ruff check bot tests

test: setup
	.venv/bin/ruff check bot tests
	.venv/bin/python -m pytest -q

demo: setup
	.venv/bin/python -m tests.sandbox.demo
