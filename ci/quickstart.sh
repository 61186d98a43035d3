#!/usr/bin/env bash
# Check that docs/quickstart.md works when followed literally in a new `django-admin
# startproject`, with oauth_cc installed from a wheel built from this checkout.
#
#   1. copy the sources to a temporary folder (a stale build/ or *.egg-info in the checkout,
#      or someone's half-saved edit elsewhere, cannot leak in), build the wheel there
#      (pip wheel --no-deps), create a fresh virtualenv and install the wheel into it
#      (Django, DRF, cryptography and PyJWT come as its dependencies);
#   2. run the page's marked code blocks in order (tests/quickstart/run_page.py), from an
#      empty folder, with the virtualenv's bin/ first on PATH;
#   3. check the running server independently: a token with client_secret_basic, 200 from
#      the page's protected view with it, 401 without, 401 invalid_token with a bad one.
#
# Convention in docs/quickstart.md: a fenced code block takes part when its FIRST line is
#   # quickstart: install                 not run (this script installs the wheel itself)
#   # quickstart: shell                   run with bash -euo pipefail; the folder it ends in
#                                         (cd) and the variables it exports carry over to
#                                         the next blocks
#   # quickstart: PATH (append)           appended to PATH (relative to the current folder,
#   # quickstart: PATH (replace)          i.e. after the shell blocks' cd); replace and
#   # quickstart: PATH (create)           append need the file to exist, create needs it not to
#   # quickstart: createclient            one `manage.py createclient ...` command; run with
#                                         --json added, the id and secret are exported as
#                                         CLIENT_ID and CLIENT_SECRET
#   # quickstart: server                  one `runserver 127.0.0.1:8000` command; run in the
#                                         background on a free port instead, with --noreload
#   # quickstart: client                  run like a shell block once the server listens, with
#                                         127.0.0.1:8000 replaced by that port; the status
#                                         codes it prints (lines ending in " NNN") must be
#                                         200 then 401
# Blocks without a marker are prose for the reader and are not run. The marker lines are
# comments, so the blocks can be pasted as they are. An unknown marker, or a page missing
# one of the kinds, fails the check.
#
# Needs python3 >= 3.11, bash, curl and the package index. Usage: bash ci/quickstart.sh
# (KEEP=1 keeps the temporary folder and prints where it is).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
PYTHON="${PYTHON:-python3}"
START=$(date +%s)

WORK="$(mktemp -d "${TMPDIR:-/tmp}/oauth_cc-quickstart.XXXXXX")"
cleanup() {
    if [ "${KEEP:-}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "oauth_cc needs Python 3.11 or newer; set PYTHON=python3.x")'
command -v curl >/dev/null || { echo "ci/quickstart.sh needs curl" >&2; exit 1; }

echo "== sources copied to $WORK/src"
mkdir "$WORK/src"
tar -C "$ROOT" -c \
    --exclude=./.git --exclude='./.venv*' --exclude=./build --exclude=./dist --exclude=./site \
    --exclude='*.egg-info' --exclude=__pycache__ --exclude=.hypothesis \
    --exclude=.pytest_cache --exclude=.ruff_cache --exclude=.mypy_cache --exclude=.nox \
    --exclude=.coverage . | tar -C "$WORK/src" -x

echo "== a fresh virtualenv, the wheel built and installed"
"$PYTHON" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install --quiet --upgrade pip
"$WORK/venv/bin/python" -m pip wheel --quiet --no-deps --wheel-dir "$WORK/dist" "$WORK/src"
"$WORK/venv/bin/python" -m pip install --quiet "$WORK"/dist/oauth_cc-*.whl
"$WORK/venv/bin/python" -m pip list --format=freeze \
    | grep -iE '^(oauth.cc|django|djangorestframework|cryptography|pyjwt)==' | tr '\n' ' '
echo

echo "== docs/quickstart.md, block by block, in $WORK/site"
# Run with the checkout's copy of the driver and page, from outside the checkout, so that
# nothing can be imported from the tree instead of the wheel.
cd "$WORK"
"$WORK/venv/bin/python" "$WORK/src/tests/quickstart/run_page.py" "$WORK/src/docs/quickstart.md" \
    --venv "$WORK/venv" --workdir "$WORK/site"

echo "== quick start passed in $(( $(date +%s) - START )) s"
