#!/usr/bin/env bash
# Installs what mirror-bot needs on a fresh Debian/Ubuntu machine: skopeo, the distribution
# registry (for the local sandbox and the tests), htpasswd, and a virtualenv in .venv with the
# package (its dependencies from the hash-pinned lock in requirements/) and its test tools.
# With --for-tests (`make test` passes it) also Chromium and a CJK font, which only the status
# page's screenshot test needs. Safe to run again; ends by saying how to run the CLI.
#
# apt waits for a lock another apt or dpkg holds (unattended upgrades on a fresh machine) for up
# to SETUP_APT_LOCK_TIMEOUT seconds (600): dpkg's lock through apt's own DPkg::Lock::Timeout on
# every call; the package lists' lock, which that option does not cover, by trying
# `apt-get update` again every SETUP_APT_RETRY_INTERVAL seconds (5) while apt says the lock is
# held.
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: scripts/setup.sh [--for-tests]"
for_tests=false
for argument in "$@"; do
  case $argument in
    --for-tests) for_tests=true ;;
    -h | --help) echo "$usage"; exit 0 ;;
    *) echo "setup: unknown argument '$argument'; $usage" >&2; exit 2 ;;
  esac
done

lock_timeout=${SETUP_APT_LOCK_TIMEOUT:-600}
retry_interval=${SETUP_APT_RETRY_INTERVAL:-5}
packages=(skopeo docker-registry apache2-utils python3-venv)
if $for_tests; then
  packages+=(chromium fonts-noto-cjk)
fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done

as_root=()
[[ $(id -u) -eq 0 ]] || as_root=(sudo)
# `env` inside sudo: sudo drops DEBIAN_FRONTEND from the caller's environment.
apt=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o "DPkg::Lock::Timeout=$lock_timeout")

update_package_lists() {
  local deadline=$((SECONDS + lock_timeout)) errors
  while true; do
    if errors=$("${apt[@]}" update -qq 2>&1 >/dev/null); then
      return 0
    fi
    if [[ $errors != *"Could not get lock"* ]] || ((SECONDS >= deadline)); then
      echo "$errors" >&2
      echo "setup: apt-get update failed (above); run scripts/setup.sh again once it is fixed" >&2
      return 1
    fi
    echo "setup: another apt holds the package lists' lock; trying again in ${retry_interval}s" >&2
    sleep "$retry_interval"
  done
}

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]} (waiting up to ${lock_timeout}s for another apt to finish)" >&2
  update_package_lists
  "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
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

cat <<'EOF'
setup: done. The CLI is .venv/bin/mirror-bot (try: .venv/bin/mirror-bot --help); after
`. .venv/bin/activate` it is plain `mirror-bot` in that shell.
EOF
