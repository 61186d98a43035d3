"""The version matrix: the test suite on each supported Python and Django.

    nox                      # every session below
    nox -l                   # list them
    nox -s minimum           # the declared minimum versions (ci/constraints-min.txt), Python 3.11
    nox -s "tests(python='3.13', django='6.1')"
    nox -t django5.2         # one Django release on every Python (also: -t py3.12)
    nox -t matrix            # the Python x Django sessions only (not minimum)
    nox -s minimum -- -x tests/test_keys.py     # arguments after -- go to pytest

Django 6.x requires Python 3.12 or newer, so the 3.11 x 6.x combinations do not exist.
Interpreters are looked for on PATH, then in pyenv's versions folder, /usr/local/bin and
/usr/bin; nox never downloads one. A session whose interpreter is missing is skipped with a
message (`nox --error-on-missing-interpreters` makes that an error; nox does so when CI is set).
Each session has its own virtualenv under .nox/ and installs the package editable with the
test extras, like `make test`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
CONSTRAINTS_MIN = ROOT / "ci" / "constraints-min.txt"

PYTHONS = ["3.11", "3.12", "3.13"]
DJANGOS = ["5.2", "6.0", "6.1"]
# Django 6.0 and 6.1 declare Requires-Python >= 3.12.
DJANGO_MIN_PYTHON = {"5.2": (3, 10), "6.0": (3, 12), "6.1": (3, 12)}
MATRIX = [
    (python, django)
    for python in PYTHONS
    for django in DJANGOS
    if tuple(map(int, python.split("."))) >= DJANGO_MIN_PYTHON[django]
]

nox.needs_version = ">=2025.10.14"  # nox.options.download_python
nox.options.sessions = ["tests", "minimum"]
nox.options.default_venv_backend = "venv"  # python -m venv, as make test does
nox.options.download_python = "never"  # no standalone builds: only local interpreters
nox.options.error_on_missing_interpreters = "CI" in os.environ


def _version_key(path: Path) -> tuple[int, ...]:
    """/root/.pyenv/versions/3.12.10 sorts after 3.12.9."""
    return tuple(int(part) for part in re.findall(r"\d+", path.name))


def _real_interpreter(candidate: str, version: str) -> str | None:
    """The interpreter's own path if it runs (a pyenv shim for an unselected version does
    not), is the wanted version and can make a virtualenv with pip (Debian's python3.x needs
    python3.x-venv); None otherwise."""
    probe = (
        "import sys, venv, ensurepip\n"
        f"if '%d.%d' % sys.version_info[:2] != {version!r}: sys.exit(1)\n"
        "print(sys.executable)\n"
    )
    try:
        completed = subprocess.run(  # noqa: S603 (an interpreter path we searched for)
            [candidate, "-c", probe], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    found = completed.stdout.strip()
    return found if completed.returncode == 0 and found else None


def _find_interpreter(version: str) -> str | None:
    name = f"python{version}"
    candidates = []
    on_path = shutil.which(name)
    if on_path:
        candidates.append(on_path)
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += [
        str(folder / "bin" / name)
        for folder in sorted(
            (pyenv_root / "versions").glob(f"{version}.*"), key=_version_key, reverse=True
        )
        if re.fullmatch(r"\d+\.\d+\.\d+", folder.name)  # not 3.12.1t, 3.12-dev...
    ]
    candidates += [f"/usr/local/bin/{name}", f"/usr/bin/{name}"]
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            found = _real_interpreter(candidate, version)
            if found:
                return found
    return None


def _expose_interpreters() -> None:
    """Put a `pythonX.Y` that works first on PATH for each version of the matrix.

    nox finds interpreters by name; a pyenv shim for a version that is installed but not
    selected fails, and pyenv's versions are not on PATH. A two-line wrapper that execs the
    real interpreter keeps the session names short (`tests(python='3.12', ...)`) and the
    virtualenvs based on the real interpreter.
    """
    folder = ROOT / ".nox" / "_interpreters"
    missing = []
    for version in PYTHONS:
        found = _find_interpreter(version)
        wrapper = folder / f"python{version}"
        if found is None:
            missing.append(version)
            wrapper.unlink(missing_ok=True)
            continue
        folder.mkdir(parents=True, exist_ok=True)
        text = f'#!/bin/sh\nexec "{found}" "$@"\n'
        if not wrapper.exists() or wrapper.read_text() != text:
            wrapper.write_text(text)
            wrapper.chmod(0o755)
    if folder.is_dir():
        os.environ["PATH"] = f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"
    for version in missing:
        sessions = [f"tests(python='{version}', django='{django}')"
                    for python, django in MATRIX if python == version]
        if version == "3.11":
            sessions.append("minimum")
        print(
            f"noxfile: no working python{version} here (looked on PATH, in pyenv's versions, "
            f"/usr/local/bin, /usr/bin); skipping {', '.join(sessions)}",
            file=sys.stderr,
        )


_expose_interpreters()


CHECK_VERSIONS = """
import sys
from importlib.metadata import version


def release(text):
    parts = text.split(".")
    while len(parts) > 1 and parts[-1] == "0":
        parts.pop()
    return parts


expected = dict(arg.split("==", 1) for arg in sys.argv[1:])
print("Python", sys.version.split()[0])
wrong = []
for name in dict.fromkeys(["Django", "djangorestframework", "PyJWT", "cryptography", *expected]):
    installed = version(name)
    print(f"{name}=={installed}")
    want = expected.get(name)
    if want is None:
        continue
    if want.endswith(".*"):  # 6.0.* takes 6.0, 6.0.0, 6.0.10
        prefix, have = want[:-2].split("."), installed.split(".")
        ok = (have + ["0"] * len(prefix))[: len(prefix)] == prefix
    else:
        ok = release(installed) == release(want)
    if not ok:
        wrong.append(f"{name} {installed} is installed, not {want}")
sys.exit("\\n".join(wrong) or None)
"""


def _check_versions(session: nox.Session, expected: dict[str, str]) -> None:
    """Print the versions the suite runs on; fail if one is not the expected release
    (a reused virtualenv left with other versions, a constraint pip did not honour)."""
    session.run("python", "-c", CHECK_VERSIONS, *(f"{k}=={v}" for k, v in expected.items()))


@nox.session(tags=["matrix"])
@nox.parametrize(
    "python,django",
    MATRIX,
    tags=[[f"py{python}", f"django{django}"] for python, django in MATRIX],
)
def tests(session: nox.Session, django: str) -> None:
    """The suite on the latest patch release of one Django feature release."""
    session.install("--upgrade", "pip")
    session.install("-e", ".[test]", f"Django=={django}.*")
    _check_versions(session, {"Django": f"{django}.*"})
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(python="3.11")
def minimum(session: nox.Session) -> None:
    """The suite on the lowest versions pyproject.toml allows (as `make test-min`)."""
    session.install("--upgrade", "pip")
    session.install("-c", str(CONSTRAINTS_MIN), "-e", ".[test]")
    pins = {}
    for line in CONSTRAINTS_MIN.read_text().splitlines():
        match = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s#;]+)", line)
        if match:
            pins[match.group(1)] = match.group(2)
    _check_versions(session, pins)
    session.run("python", "-m", "pytest", *session.posargs)
