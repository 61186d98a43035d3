#!/usr/bin/env bash
# Build the documentation site (MkDocs with the Material theme) with --strict: any warning
# (a broken link or anchor, a page missing from the nav, a missing include) fails the build.
#
#   bash ci/docs.sh            build into site/ (git-ignored)
#   bash ci/docs.sh DIR        build into DIR instead (CI: a temporary folder)
#   bash ci/docs.sh serve      live preview on http://127.0.0.1:8001
#
# The tools live in their own virtualenv, .venv-docs (git-ignored), created on first use from
# the pinned versions below (the same strings as the "docs" extra in pyproject.toml, when it
# has one). Also checks that docs/reference/checks.md lists every ID of oauth_cc/checks.py
# and that docs/security.md's include of SECURITY.md stops right before its closing links.
set -euo pipefail
export NO_MKDOCS_2_WARNING=1
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${DOCS_VENV:-.venv-docs}"
REQUIREMENTS=("mkdocs==1.6.1" "mkdocs-material==9.8.2" "pymdown-extensions==13.1.2")
STAMP="$VENV/.installed-$(printf '%s ' "${REQUIREMENTS[@]}" | cksum | cut -d' ' -f1)"

if [ ! -f "$STAMP" ]; then
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet "${REQUIREMENTS[@]}"
    rm -f "$VENV"/.installed-*
    touch "$STAMP"
fi

# Every system check ID (oauth_cc/checks.py, MESSAGES) has a row in the reference page.
missing=""
for id in $(grep -oE '"oauth_cc\.[EW][0-9]{3}"' oauth_cc/checks.py | tr -d '"' | sort -u); do
    grep -q "| \`$id\` |" docs/reference/checks.md || missing="$missing $id"
done
if [ -n "$missing" ]; then
    echo "docs/reference/checks.md has no row for:$missing" >&2
    exit 1
fi

# docs/security.md includes SECURITY.md lines 3 to N ("--8<-- \"SECURITY.md:3:N\""); line N+2
# must be the closing "See [docs/conformance.md]..." paragraph, whose links do not resolve
# inside the site and which the page replaces with its own.
end=$(grep -oE 'SECURITY\.md:3:[0-9]+' docs/security.md | cut -d: -f3)
if ! sed -n "$((end + 2))p" SECURITY.md | grep -q '^See \[docs/conformance.md\]' \
        || sed -n "$((end + 1))p" SECURITY.md | grep -q .; then
    echo "SECURITY.md changed: update the line range in docs/security.md" >&2
    exit 1
fi

if [ "${1:-}" = serve ]; then
    exec "$VENV/bin/mkdocs" serve --strict --dev-addr 127.0.0.1:8001
fi
"$VENV/bin/mkdocs" build --strict --clean --site-dir "$(realpath -m "${1:-site}")"
