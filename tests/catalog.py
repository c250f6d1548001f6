"""The exercise ids of the course catalog (../shared/COURSE.md), sections 01 to 06.

A copy, so the coverage test runs without the workplace beside the repository;
tests/test_release.py checks that it still matches the catalog when the catalog is there.
Only the tests use it.
"""

import re
from pathlib import Path

CATALOG_IDS = {
    "01-autoregressive-generation": [f"E1-{i:02d}" for i in range(1, 12)],
    "02-decoder-only-flow": [f"E2-{i:02d}" for i in range(1, 9)],
    "03-log-likelihood": [f"E3-{i:02d}" for i in range(1, 10)],
    "04-kv-cache": [f"E4-{i:02d}" for i in range(1, 10)],
    "05-sampling-and-search": [f"E5-{i:02d}" for i in range(1, 9)],
    "06-faster-and-longer": [f"E6-{i:02d}" for i in range(1, 9)],
}


def read_catalog(path: Path) -> dict[str, list[str]]:
    """Assignment -> exercise ids, from the "## 0N-name" sections and "- EN-MM kind:" lines of COURSE.md."""
    catalog, section = {}, None
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^## (\d\d-[a-z0-9-]+)", line)
        if heading:
            section = heading.group(1)
            catalog[section] = []
        exercise = re.match(r"^- (E\d+-\d\d)\b", line)
        if exercise and section:
            catalog[section].append(exercise.group(1))
    return {name: ids for name, ids in catalog.items() if ids}
