"""Visible tests must not give answers away: every hint keyed by a digest is sealed.

A plain hint for each distractor reveals the right answer by elimination, so hints are
stored as `grading.seal_hint(wrong_answer, text)`, readable only by giving that answer.
"""

import ast
import re
from pathlib import Path

import nbformat
import pytest

SOLUTIONS = Path(__file__).resolve().parent.parent / "solutions"
DIGEST = re.compile(r"[0-9a-f]{16}")


def digest_keyed_hints(source: str):
    """(digest, hint) for every dict entry whose key looks like a `grading.digest`."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and isinstance(key.value, str) and DIGEST.fullmatch(key.value):
                    yield key.value, value


def test_the_detector_finds_plain_and_sealed_hints():
    found = dict(digest_keyed_hints("h = {'0123456789abcdef': 'plain', 'fedcba9876543210': 'sealed:xyz'}"))
    assert [v.value for v in found.values()] == ["plain", "sealed:xyz"]


@pytest.mark.parametrize("notebook", sorted(SOLUTIONS.glob("*/*.ipynb")), ids=lambda p: p.parent.name)
def test_every_digest_keyed_hint_is_sealed(notebook):
    nb = nbformat.read(notebook, as_version=4)
    plain = []
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type != "code" or not cell.metadata.get("nbgrader", {}).get("grade"):
            continue
        for digest, hint in digest_keyed_hints(cell.source):
            if not (isinstance(hint, ast.Constant) and str(hint.value).startswith("sealed:")):
                plain.append(f"{grade_id}: hint for {digest}")
    assert not plain, "seal these hints with grading.seal_hint(wrong_answer, text):\n" + "\n".join(plain)
