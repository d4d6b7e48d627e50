.PHONY: setup test lint demo bench

setup:
	./scripts/setup.sh

lint: setup
	.venv/bin/ruff check bot tests bench sandbox

test: setup
	.venv/bin/ruff check bot tests bench sandbox
	.venv/bin/python -m pytest -q

demo: setup
	.venv/bin/python -m sandbox.demo

bench: setup
	.venv/bin/pip install --quiet -e '.[bench]'
	.venv/bin/python -m bench.run
