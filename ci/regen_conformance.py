"""Regenerate docs/conformance.md from the IDs the tests cite: each row's Tests column and the
"Not cited by any test" section. ``ID=status`` arguments also set a row's Status cell::

    .venv/bin/python ci/regen_conformance.py "DPOP-19=implemented"

tests/test_conformance_doc.py checks the result.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "conformance.md"
PREFIXES = ("GEN", "CAUTH", "JWTCA", "MTLS", "TOK", "SCOPE", "RES", "JWT", "RSV", "BEARER",
            "DPOP", "INTRO", "REV", "META", "JWKS", "THUMB", "BCP", "X")
REQUIREMENT_ID = re.compile(rf"\b(?:{'|'.join(PREFIXES)})-[0-9]{{2}}\b")
ROW = re.compile(r"^\|\s*\*\*(?P<id>[A-Z]+-[0-9]+)\*\*\s*\|(?P<cells>.*)\|\s*$")
UNCITED = "## Not cited by any test"


def cited_by() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "tests").rglob("*.py")):
        if path.name == "test_conformance_doc.py":
            continue
        for requirement in set(REQUIREMENT_ID.findall(path.read_text(encoding="utf-8"))):
            found.setdefault(requirement, set()).add(path.relative_to(ROOT).as_posix())
    return found


def main(arguments: list[str]) -> None:
    statuses = dict(argument.split("=", 1) for argument in arguments)
    cited = cited_by()
    lines = []
    uncited: dict[tuple[str, str], list[str]] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            requirement = match["id"]
            cells = [cell.strip() for cell in match["cells"].split("|")]
            files = sorted(cited.get(requirement, ()))
            cells[-1] = ", ".join(f"`{name}`" for name in files) if files else "—"
            cells[-2] = statuses.get(requirement, cells[-2])
            line = f"| **{requirement}** | " + " | ".join(cells) + " |"
            if not files:
                area = requirement.split("-")[0]
                uncited.setdefault((area, cells[-2].split(" (")[0]), []).append(requirement)
        lines.append(line)
    text = "\n".join(lines) + "\n"
    head, heading, tail = text.partition(UNCITED)
    after = tail.split("\n## ", 1)
    section = ("\n\nThese IDs have no test that cites them, grouped by area and status.\n\n"
               + "\n".join(f"- {area}, {status}: " + ", ".join(f"**{i}**" for i in ids)
                           for (area, status), ids in uncited.items()) + "\n")
    DOC.write_text(head + heading + section + ("\n## " + after[1] if len(after) > 1 else ""),
                   encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
