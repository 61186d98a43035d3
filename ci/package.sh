#!/usr/bin/env bash
# Build the sdist and the wheel the way a release would, and check what they contain:
#   - tools (build, twine) in a fresh virtualenv, sources copied to a temporary folder (a stale
#     build/ or *.egg-info in the checkout can neither leak into the wheel nor be rewritten);
#   - python -m build: the sdist, then the wheel built from that sdist;
#   - twine check --strict;
#   - the sdist ships the package and its documentation (README.md and what it links to,
#     CHANGELOG.md, SECURITY.md, LICENSE, docs/) and no tests: the suite needs the repository;
#   - the wheel, installed with its dependencies in another fresh virtualenv and imported from
#     outside the checkout, has py.typed, every migration and template of the tree, no tests,
#     and its migrations apply and match the models.
# Needs python3 >= 3.11 and the package index. Usage: bash ci/package.sh [OUTDIR]
# (OUTDIR, e.g. dist, keeps the two files; otherwise everything is removed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

PYTHON="${PYTHON:-python3}"
OUTDIR="${1:-}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/oauth_cc-package.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "oauth_cc needs Python 3.11 or newer; set PYTHON=python3.x")'

echo "== tools (build, twine) in a fresh virtualenv"
"$PYTHON" -m venv "$WORK/tools"
"$WORK/tools/bin/python" -m pip install --quiet --upgrade pip
"$WORK/tools/bin/python" -m pip install --quiet build twine

echo "== sources copied to $WORK/src"
mkdir "$WORK/src"
tar -C "$ROOT" -c \
    --exclude=./.git --exclude='./.venv*' --exclude=./build --exclude=./dist \
    --exclude='*.egg-info' --exclude=__pycache__ --exclude=.hypothesis \
    --exclude=.pytest_cache --exclude=.ruff_cache --exclude=.nox --exclude=.coverage \
    . | tar -C "$WORK/src" -x

echo "== python -m build"
"$WORK/tools/bin/python" -m build --outdir "$WORK/dist" "$WORK/src" >"$WORK/build.log" 2>&1 \
    || { cat "$WORK/build.log"; exit 1; }
shopt -s nullglob
sdists=("$WORK"/dist/*.tar.gz)
wheels=("$WORK"/dist/*.whl)
shopt -u nullglob
if [ "${#sdists[@]}" -ne 1 ] || [ "${#wheels[@]}" -ne 1 ]; then
    echo "expected one sdist and one wheel, got: $(ls "$WORK/dist")" >&2
    exit 1
fi
SDIST="${sdists[0]}"
WHEEL="${wheels[0]}"
ls -l "$SDIST" "$WHEEL"

echo "== twine check --strict"
"$WORK/tools/bin/python" -m twine check --strict "$SDIST" "$WHEEL"

echo "== sdist contents"
tar -tzf "$SDIST" >"$WORK/sdist.txt"
"$WORK/tools/bin/python" - "$WORK/sdist.txt" "$ROOT" <<'PY'
import posixpath
import re
import sys
from pathlib import Path

listing, root = Path(sys.argv[1]), Path(sys.argv[2])
names = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
prefix = names[0].split("/")[0] + "/"
files = {name[len(prefix):] for name in names if not name.endswith("/")}
problems = []

# Repository-only folders: tests and the things only the repository runs.
REPOSITORY_ONLY = ("tests/", "demo_project/", "benchmarks/", "fleet/", "ci/", ".ci/")
for name in sorted(files):
    if name.startswith(REPOSITORY_ONLY) or re.search(r"(^|/)(test_[^/]*\.py|conftest\.py)$", name):
        problems.append(f"the sdist ships {name}: it ships no tests")

required = {"README.md", "CHANGELOG.md", "SECURITY.md", "LICENSE", "pyproject.toml",
            "PKG-INFO", "oauth_cc/py.typed"}
required |= {p.relative_to(root).as_posix() for p in (root / "docs").rglob("*") if p.is_file()}
for name in sorted(required - files):
    problems.append(f"the sdist lacks {name}")

# The relative links of the documents it ships must resolve inside it, except links into
# the repository-only folders (those only resolve in a clone).
for document in sorted(n for n in files if n.endswith(".md")):
    text = (root / document).read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):
            continue
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(document), target))
        if resolved.startswith(REPOSITORY_ONLY):
            print(f"  note: {document} links to {target}, which only a clone has")
        elif resolved not in files:
            problems.append(f"{document} links to {target}, which the sdist lacks")

print(f"  {len(files)} files: " + ", ".join(sorted(n for n in files if not n.startswith("oauth_cc/"))))
print(f"  and {sum(n.startswith('oauth_cc/') for n in files)} under oauth_cc/")
if problems:
    sys.exit("\n".join(problems))
PY

echo "== the wheel, installed in a fresh virtualenv"
"$PYTHON" -m venv "$WORK/install"
"$WORK/install/bin/python" -m pip install --quiet --upgrade pip
"$WORK/install/bin/python" -m pip install --quiet "$WHEEL"
mkdir "$WORK/elsewhere"
(cd "$WORK/elsewhere" && "$WORK/install/bin/python" - "$ROOT" "$WHEEL") <<'PY'
import sys
import zipfile
from importlib.metadata import distribution
from pathlib import Path

root, wheel = Path(sys.argv[1]), Path(sys.argv[2])

import oauth_cc

package = Path(oauth_cc.__file__).resolve().parent
if root.resolve() in package.parents:
    sys.exit(f"oauth_cc was imported from the checkout ({package}), not from the wheel")
problems = []

names = set(zipfile.ZipFile(wheel).namelist())
for name in sorted(names):
    top = name.split("/")[0]
    if not (top == "oauth_cc" or top.endswith(".dist-info")):
        problems.append(f"the wheel ships {name} outside oauth_cc/")

expected = {"oauth_cc/py.typed"}
for folder, pattern in (("migrations", "*.py"), ("templates", "*"), ("locale", "*.[mp]o")):
    expected |= {p.relative_to(root).as_posix()
                 for p in (root / "oauth_cc" / folder).rglob(pattern)
                 if p.is_file() and "__pycache__" not in p.parts}
for name in sorted(expected):
    if name not in names:
        problems.append(f"the wheel lacks {name}")
    elif not (package.parent / name).is_file():
        problems.append(f"{name} is not installed")

meta = distribution("oauth-cc").metadata
print(f"  oauth-cc {meta['Version']} from {package}")
print(f"  License-Expression: {meta['License-Expression']}; "
      f"Requires-Python: {meta['Requires-Python']}; "
      f"{len(meta.get_all('Classifier') or [])} classifiers")
print(f"  {len(names)} files in the wheel, {len(expected)} checked against the tree")

# The installed app loads, its migrations apply and match its models.
import django
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management import call_command

settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth",
                    "rest_framework", "oauth_cc"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    USE_TZ=True,
    OAUTH_CC={"ISSUER": "https://auth.example.com",
              "DEFAULT_AUDIENCE": "https://api.example.com",
              "KEY_ENCRYPTION_KEYS": [Fernet.generate_key().decode()]},
)
django.setup()
import oauth_cc.urls  # noqa: E402,F401
import oauth_cc.well_known  # noqa: E402,F401

call_command("migrate", verbosity=0)
try:
    call_command("makemigrations", "oauth_cc", check=True, dry_run=True, verbosity=0)
except SystemExit:
    problems.append("the installed models have changes that no migration records")
print(f"  Django {django.get_version()}: migrate and makemigrations --check passed")

if problems:
    sys.exit("\n".join(problems))
PY

if [ -n "$OUTDIR" ]; then
    mkdir -p "$OUTDIR"
    cp "$SDIST" "$WHEEL" "$OUTDIR"/
    echo "== kept in $OUTDIR: $(basename "$SDIST") $(basename "$WHEEL")"
fi
echo "== package: ok"
