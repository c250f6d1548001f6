"""`course/` from `solutions/`: nbgrader generate_assignment for every assignment.

The release is rendered in a scratch workspace and then copied over, so `course/` only
ever holds finished releases, and the staleness test can render one and compare.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from autograder.workspace import Course, Workspace


def render(course: Course, dest: Path, assignments: list[str] | None = None, graded: bool = False) -> list[str]:
    """Generate the release of `assignments` (default: all) into `dest/<assignment>/`.

    `graded`: for a course that grades the work, visible tests of value answers check only
    that an answer is given and well formed (their self-study feedback would be an oracle)."""
    assignments = course.assignments() if assignments is None else assignments
    with tempfile.TemporaryDirectory(prefix="autograder-release-") as scratch:
        workspace = Workspace(Path(scratch), course, graded_release=graded)
        for assignment in assignments:
            released = workspace.prepare(assignment)
            target = Path(dest) / assignment
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(released, target)
    return assignments


def release(course: Course = Course(), only: list[str] | None = None, graded: bool = False,
            dest: Path | None = None) -> tuple[list[str], list[str]]:
    """Regenerate the release (`course.release`, or `dest`) from `course.source`; return
    (released, removed) assignments.

    A release folder whose source is gone is removed: course/ is generated, never edited."""
    dest = Path(dest or course.release)
    released = render(course, dest, only, graded)
    removed = []
    for folder in sorted(dest.iterdir()) if dest.is_dir() and not only else []:
        if folder.is_dir() and folder.name not in released and any(folder.glob("*.ipynb")):
            shutil.rmtree(folder)
            removed.append(folder.name)
    return released, removed


def stale(course: Course = Course()) -> list[str]:
    """What differs between `course.release` and a fresh release (empty: up to date)."""
    with tempfile.TemporaryDirectory(prefix="autograder-fresh-") as fresh:
        render(course, Path(fresh))
        return _differences(Path(fresh), course.release)


def _differences(fresh: Path, current: Path) -> list[str]:
    def files(root):
        return {p.relative_to(root).as_posix(): p for p in root.rglob("*")
                if p.is_file() and ".ipynb_checkpoints" not in p.parts and "__pycache__" not in p.parts}

    new, old = files(fresh), files(current) if current.is_dir() else {}
    problems = [f"{name} is missing" for name in sorted(set(new) - set(old))]
    problems += [f"{name} has no source in solutions/" for name in sorted(set(old) - set(new))
                 if name.split("/")[0] in {n.split("/")[0] for n in new} or name.endswith(".ipynb")]
    problems += [f"{name} differs from a fresh release" for name in sorted(set(new) & set(old))
                 if new[name].read_bytes() != old[name].read_bytes()]
    return problems
