#!/usr/bin/env bash
# Run the test suite against the lowest versions pyproject.toml allows (ci/constraints-min.txt),
# in its own virtualenv .venv-min at the repository root. Needs nothing but python3 >= 3.11.
# Extra arguments go to pytest, e.g. `bash ci/test-min.sh -x tests/test_keys.py`.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV=.venv-min
CONSTRAINTS=ci/constraints-min.txt

"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "oauth_cc needs Python 3.11 or newer; set PYTHON=python3.x")'
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -c "$CONSTRAINTS" -e '.[test]'

# Show what was installed, and fail if any pinned package is not at its pin (a stale .venv-min).
"$VENV/bin/python" - "$CONSTRAINTS" <<'PY'
import re
import sys
from importlib.metadata import version

MAIN = ["Django", "djangorestframework", "PyJWT", "cryptography"]


def release(text):
    """5.2 and 5.2.0 are the same release."""
    parts = text.split(".")
    while len(parts) > 1 and parts[-1] == "0":
        parts.pop()
    return ".".join(parts)


pins = {}
with open(sys.argv[1]) as constraints:
    for line in constraints:
        match = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s#;]+)", line)
        if match:
            pins[match.group(1)] = match.group(2)
print("Python", sys.version.split()[0])
wrong = []
for name in MAIN + [name for name in pins if name not in MAIN]:
    installed = version(name)
    print(f"{name}=={installed}")
    if name in pins and release(installed) != release(pins[name]):
        wrong.append(f"{name} {installed} is installed but {sys.argv[1]} pins {pins[name]}")
if wrong:
    sys.exit("\n".join(wrong))
PY

exec "$VENV/bin/python" -m pytest "$@"
