#!/usr/bin/env bash
# Installs what mirror-bot needs on a fresh Debian/Ubuntu machine: skopeo, the distribution
# registry (for the local sandbox and the tests), htpasswd, Chromium for the status-page test,
# and a virtualenv in .venv with the package (its dependencies from the hash-pinned lock in
# requirements/) and its test tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(skopeo docker-registry apache2-utils python3-venv chromium)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$python" -m venv .venv
fi
stamp=.venv/.installed
if [[ ! -f $stamp || pyproject.toml -nt $stamp || requirements/runtime.txt -nt $stamp \
      || requirements/lint.txt -nt $stamp ]]; then
  .venv/bin/pip install --quiet --upgrade pip >/dev/null
  # The runtime dependencies at the versions and hashes the workflows deploy, then the test tools.
  .venv/bin/pip install --quiet --require-hashes -r requirements/runtime.txt
  .venv/bin/pip install --quiet --require-hashes -r requirements/lint.txt
  .venv/bin/pip install --quiet -e '.[test]'
  touch "$stamp"
fi
