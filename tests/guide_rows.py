"""The rows of the tuning guide page (tests/data/guide/tuning-guide.md), read independently of gclens.

§1 is a Markdown table (one row per setting, its first cell the row name), §2 a bullet list (the
bold words open each bullet), §3-5 whole sections (the heading is the row). Each row's text is
plain: ``**`` and backticks removed, whitespace collapsed, so a verdict quote can be searched in it.
"""

from __future__ import annotations

import re
from pathlib import Path

GUIDE = Path(__file__).parent / "data" / "guide" / "tuning-guide.md"


def _plain(text: str) -> str:
    return " ".join(text.replace("**", "").replace("`", "").split())


def guide_rows(path: Path = GUIDE) -> dict[tuple[str, str], str]:
    """(section, row) -> the row's plain text, for every row of the guide that states a claim."""
    rows: dict[tuple[str, str], str] = {}
    sections = re.split(r"^## (\d)\. ", path.read_text(encoding="utf-8"), flags=re.M)
    for number, body in zip(sections[1::2], sections[2::2], strict=True):
        title, _, text = body.partition("\n")
        if number == "1":
            for line in text.splitlines():
                cells = [c.strip() for c in line.strip().strip("|").split("|")]
                if line.startswith("|") and cells[0] not in ("setting", "") and not set(cells[0]) <= {"-"}:
                    rows[(number, _plain(cells[0]))] = _plain(line)
        elif number == "2":
            for bullet in re.split(r"^- ", text, flags=re.M)[1:]:
                name = re.match(r"\*\*(.+?)\*\*", bullet)
                assert name, bullet[:60]
                rows[(number, _plain(name[1]).rstrip("."))] = _plain(bullet)
        else:
            rows[(number, _plain(title))] = _plain(text)
    return rows
