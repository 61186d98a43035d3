"""Keep ``docs/conformance.md`` in step with the requirement IDs that the tests cite.

Each requirement is one markdown table row of the document::

    | **TOK-07** | paraphrase | RFC sections | status | `tests/test_a.py`, `tests/test_b.py` |

The last cell names every test file that cites the ID (a dash when none does). A test file
"cites" an ID when the hyphenated ID (``TOK-07``) appears anywhere in it: name, docstring or
comment. No database is needed; paths are resolved from this file, not the current directory.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS_DIR = ROOT / "tests"
DOC = ROOT / "docs" / "conformance.md"
THIS_FILE = Path(__file__).resolve()

PREFIXES = ("GEN", "CAUTH", "JWTCA", "MTLS", "TOK", "SCOPE", "RES", "JWT", "RSV", "BEARER",
            "DPOP", "INTRO", "REV", "META", "JWKS", "THUMB", "BCP", "X")
REQUIREMENT_ID = re.compile(rf"\b(?:{'|'.join(PREFIXES)})-[0-9]{{2}}\b")
#: A requirement row: ``| **ID** | cell | ... |``.
ROW = re.compile(r"^\|\s*\*\*(?P<id>[A-Z]+-[0-9]+)\*\*\s*\|(?P<cells>.*)\|\s*$", re.MULTILINE)
TEST_FILE = re.compile(r"\btests/[\w/-]+\.py\b")
STATUSES = ("implemented", "partly", "not yet")
UNCITED_HEADING = "## Not cited by any test"


@dataclass(frozen=True)
class Row:
    requirement: str
    status: str
    files: frozenset[str]


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@functools.cache
def cited_by() -> dict[str, frozenset[str]]:
    """Requirement ID -> the test files (``tests/...py``) that cite it."""
    found: dict[str, set[str]] = {}
    for path in sorted(TESTS_DIR.rglob("*.py")):
        if path.resolve() == THIS_FILE:
            continue
        for requirement in set(REQUIREMENT_ID.findall(path.read_text(encoding="utf-8"))):
            found.setdefault(requirement, set()).add(_relative(path))
    return {requirement: frozenset(files) for requirement, files in found.items()}


@functools.cache
def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


@functools.cache
def doc_rows() -> tuple[Row, ...]:
    """Every requirement row of the document, in order (duplicates kept)."""
    rows = []
    for match in ROW.finditer(doc_text()):
        cells = [cell.strip() for cell in match["cells"].split("|")]
        status = cells[-2] if len(cells) >= 2 else ""
        files = frozenset(TEST_FILE.findall(cells[-1]))
        rows.append(Row(match["id"], status, files))
    return tuple(rows)


def rows_by_id() -> dict[str, Row]:
    return {row.requirement: row for row in doc_rows()}


def test_document_rows_are_well_formed() -> None:
    rows = doc_rows()
    assert rows, f"no requirement rows found in {_relative(DOC)}"
    ids = [row.requirement for row in rows]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"requirements listed twice: {', '.join(duplicates)}"
    unknown = sorted(i for i in ids if not REQUIREMENT_ID.fullmatch(i))
    assert not unknown, f"rows with an ID of unknown form: {', '.join(unknown)}"
    bad_status = sorted(row.requirement for row in rows if not row.status.startswith(STATUSES))
    assert not bad_status, (
        f"rows whose status is not one of {', '.join(STATUSES)}: {', '.join(bad_status)}")


def test_every_cited_requirement_is_documented() -> None:
    missing = sorted(set(cited_by()) - set(rows_by_id()))
    assert not missing, (
        f"cited in tests but missing from {_relative(DOC)}: {', '.join(missing)}")


def test_every_named_test_file_exists() -> None:
    named = sorted(set(TEST_FILE.findall(doc_text())))
    assert named, f"{_relative(DOC)} names no test file"
    absent = [name for name in named if not (ROOT / name).is_file()]
    assert not absent, f"{_relative(DOC)} names test files that do not exist: {absent}"


def test_tests_column_matches_the_citations() -> None:
    cited = cited_by()
    problems = []
    for row in doc_rows():
        actual = cited.get(row.requirement, frozenset())
        if row.files == actual:
            continue
        unlisted = sorted(actual - row.files)
        not_citing = sorted(row.files - actual)
        details = []
        if unlisted:
            details.append(f"cited by unlisted {', '.join(unlisted)}")
        if not_citing:
            details.append(f"listed but not cited by {', '.join(not_citing)}")
        problems.append(f"{row.requirement}: {'; '.join(details)}")
    assert not problems, "the Tests column is out of date:\n" + "\n".join(problems)


def test_uncited_summary_matches_the_rows() -> None:
    text = doc_text()
    assert UNCITED_HEADING in text, f"{_relative(DOC)} lacks the {UNCITED_HEADING!r} section"
    section = text.split(UNCITED_HEADING, 1)[1].split("\n## ", 1)[0]
    summarised = set(REQUIREMENT_ID.findall(section))
    uncited = {row.requirement for row in doc_rows() if not row.files}
    assert summarised == uncited, (
        f"{UNCITED_HEADING!r} should list exactly the rows without tests; "
        f"missing: {sorted(uncited - summarised)}, extra: {sorted(summarised - uncited)}")
