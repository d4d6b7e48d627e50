#!/usr/bin/env bash
# The action's install step: mirror-bot in a private virtualenv under RUNNER_TEMP, from the
# hash-pinned lock (--require-hashes), then the package itself without dependencies and without
# fetching a build backend (setuptools comes from the lock too). The caller's Python is left
# alone; only a `mirror-bot` command is added to PATH for the caller's later steps (for example
# `mirror-bot rewrite --check`). skopeo is installed only when the runner lacks it.
# Reads PYTHON (the interpreter to build the virtualenv from), GITHUB_ACTION_PATH, RUNNER_TEMP,
# GITHUB_OUTPUT and GITHUB_PATH; writes the output `python` (the virtualenv's interpreter).
set -euo pipefail

: "${GITHUB_ACTION_PATH:?}" "${RUNNER_TEMP:?}" "${GITHUB_OUTPUT:?}" "${GITHUB_PATH:?}"
python=${PYTHON:-python3}
venv="$RUNNER_TEMP/mirror-bot/venv"
bin="$RUNNER_TEMP/mirror-bot/bin"
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input)

"$python" -m venv --clear "$venv"
"${pip[@]}" --require-hashes \
  -r "$GITHUB_ACTION_PATH/requirements/runtime.txt" -r "$GITHUB_ACTION_PATH/requirements/build.txt"
# Built from a copy: the action's own folder stays as checked out.
source=$(mktemp -d "$RUNNER_TEMP/mirror-bot/source.XXXXXX")
cp -R "$GITHUB_ACTION_PATH/pyproject.toml" "$GITHUB_ACTION_PATH/README.md" "$GITHUB_ACTION_PATH/bot" "$source/"
"${pip[@]}" --no-deps --no-build-isolation "$source"
rm -rf "$source"

if ! command -v skopeo >/dev/null; then
  echo "skopeo is missing: installing it from the distribution's packages" >&2
  # Waits up to 10 minutes for another apt (the runner's own updates) instead of failing.
  apt=(sudo DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600)
  "${apt[@]}" update -qq
  "${apt[@]}" install -y -qq --no-install-recommends skopeo >/dev/null
fi

mkdir -p "$bin"
ln -sf "$venv/bin/mirror-bot" "$bin/mirror-bot"
echo "$bin" >> "$GITHUB_PATH"
echo "python=$venv/bin/python" >> "$GITHUB_OUTPUT"
"$venv/bin/mirror-bot" --version
