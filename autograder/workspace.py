"""Where things are: the course's folders, and nbgrader workspaces to release and grade in.

A `Workspace` is an nbgrader course root of its own: `source/` (a copy of the assignments
being graded), `release/`, `submitted/`, `autograded/`, `feedback/`, `gradebook.db` and
`grades.csv`. nbgrader builds its path patterns from the course root, so everything it
touches lives below that root; `course/` is written only by `release`.
"""

from __future__ import annotations

import functools
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbgrader.api
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config, PyFileConfigLoader

REPO = Path(__file__).resolve().parent.parent
CONFIG_FILE = Path(__file__).resolve().parent / "nbgrader_config.py"


@dataclass(frozen=True)
class Course:
    """The instructor's side of the course: source notebooks, release folder, sample submissions."""

    source: Path = REPO / "solutions"
    release: Path = REPO / "course"
    samples: Path = REPO / "autograder" / "samples"

    def assignments(self) -> list[str]:
        """Every folder of `source` that holds a notebook, by name."""
        if not self.source.is_dir():
            return []
        return sorted(d.name for d in self.source.iterdir() if d.is_dir() and any(d.glob("*.ipynb")))

    def notebooks(self, assignment: str) -> list[str]:
        """The notebook names (without .ipynb) of one assignment."""
        return sorted(p.stem for p in (self.source / assignment).glob("*.ipynb"))

    def check_assignment(self, assignment: str):
        assignments = self.assignments()
        if assignment not in assignments:
            raise ValueError(f"no assignment {assignment!r} in {self.source}; "
                             f"expected one of {', '.join(assignments) or '(none)'}")


@functools.cache
def _alembic_head() -> str:
    """The gradebook schema version nbgrader stamps into every new gradebook.

    nbgrader asks for it by running the `alembic` command in a subprocess, which takes
    seconds per new gradebook and fails when alembic is not on PATH; alembic's Python API
    gives the same answer at once."""
    with nbgrader.api._temp_alembic_ini("sqlite:////tmp/gradebook.db") as ini:
        return ScriptDirectory.from_config(AlembicConfig(ini)).get_current_head()


nbgrader.api.get_alembic_version = _alembic_head


def nbgrader_config(root: Path, cell_timeout: int | None = None) -> Config:
    """The course's nbgrader_config.py with every folder moved below `root`."""
    config = PyFileConfigLoader(CONFIG_FILE.name, path=str(CONFIG_FILE.parent)).load_config()
    folders = config.CourseDirectory
    folders.root = str(root)
    folders.source_directory = "source"
    folders.release_directory = "release"
    folders.submitted_directory = "submitted"
    folders.autograded_directory = "autograded"
    folders.feedback_directory = "feedback"
    folders.db_url = f"sqlite:///{root / 'gradebook.db'}"
    if cell_timeout is not None:
        config.Execute.timeout = int(cell_timeout)
    config.NbGraderAPI.log_level = logging.ERROR  # nbgrader's log comes back in each result instead
    return config


@dataclass
class Workspace:
    """An nbgrader course root below `root` for the assignments of `course`."""

    root: Path
    course: Course = field(default_factory=Course)
    cell_timeout: int | None = None

    def __post_init__(self):
        self.root = Path(self.root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.config = nbgrader_config(self.root, self.cell_timeout)
        self.api = NbGraderAPI(CourseDirectory(config=self.config), config=self.config)
        _quiet(self.api.log)

    def prepare(self, assignment: str):
        """Copy the assignment's source in and generate its release, which also records its
        cells, points and checksums in the gradebook (autograde needs them)."""
        self.course.check_assignment(assignment)
        source = self.root / "source" / assignment
        if source.exists():
            shutil.rmtree(source)
        shutil.copytree(self.course.source / assignment, source,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        result = self.api.generate_assignment(assignment, force=True, create=True)
        if not result["success"]:
            raise RuntimeError(f"nbgrader could not generate {assignment}:\n{result.get('error', '')}\n{result.get('log', '')}")
        return self.root / "release" / assignment

    def gradebook(self) -> Gradebook:
        """This workspace's nbgrader gradebook, to use in a `with` block."""
        folders = self.config.CourseDirectory
        return Gradebook(folders.db_url, folders.course_id)


def _quiet(log: logging.Logger):
    """nbgrader logs every step to stderr; keep errors only (results carry the full log)."""
    log.setLevel(logging.ERROR)
    for handler in log.handlers:
        handler.setLevel(logging.ERROR)
