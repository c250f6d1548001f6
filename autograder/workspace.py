"""Where things are: the course's folders, and the nbgrader course roots we grade in.

A `Workspace` is an nbgrader course root: `source/` (a copy of the assignments being
graded), `release/`, `submitted/`, `autograded/`, `feedback/` and `gradebook.db`, plus our
own `grades.csv`, `results/` and `report.html`. nbgrader builds its path patterns from the
course root, so everything it touches lives below that root; `course/` is written only by
`release`. Each submission is graded in a private temporary root of its own
(`autograder.unit`); the class's root only receives the results.
"""

from __future__ import annotations

import functools
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbgrader
import nbgrader.api
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


def nbgrader_config(root: Path, settings=None, plan_file: Path | None = None, mode: str | None = None) -> Config:
    """The course's nbgrader_config.py with every folder moved below `root`.

    `settings` (autograder.unit.Settings) set the cell timeout and the sandbox; `plan_file`
    and `mode` ("reference" or "student") tell the grading preprocessors what to compare."""
    config = PyFileConfigLoader(CONFIG_FILE.name, path=str(CONFIG_FILE.parent)).load_config()
    folders = config.CourseDirectory
    folders.root = str(root)
    folders.source_directory = "source"
    folders.release_directory = "release"
    folders.submitted_directory = "submitted"
    folders.autograded_directory = "autograded"
    folders.feedback_directory = "feedback"
    folders.db_url = f"sqlite:///{Path(root) / 'gradebook.db'}"
    if settings is not None:
        if settings.cell_timeout is not None:
            config.Execute.timeout = int(settings.cell_timeout)
        config.LimitedExecute.sandbox = settings.sandbox
        if settings.limits is not None:
            config.LimitedExecute.limits = settings.limits
    if plan_file is not None:
        config.JudgeRecords.plan_file = str(plan_file)
    if mode is not None:  # what arlib.grading.record needs to know: the grader is listening
        config.LimitedExecute.extra_env = {"ARLIB_RECORD": mode}
    config.NbGraderAPI.log_level = logging.ERROR  # nbgrader's log comes back in each result instead
    return config


def quiet_api(config: Config) -> NbGraderAPI:
    """nbgrader's Python API for the course root of `config`, logging errors only."""
    _stamp_gradebooks_in_process()
    api = NbGraderAPI(CourseDirectory(config=config), config=config)
    api.log.setLevel(logging.ERROR)
    for handler in api.log.handlers:
        handler.setLevel(logging.ERROR)
    return api


@functools.cache
def _stamp_gradebooks_in_process():
    """Workaround, nbgrader 0.9.6 only: every new gradebook asks the `alembic` command for the
    schema version in a subprocess, which costs 2-4 s per gradebook and fails outright when
    the alembic script is not on PATH (a virtual environment used without activating it).
    Alembic's Python API reads the same answer from nbgrader's own migration scripts at once.
    Other versions are left alone."""
    if nbgrader.__version__ != "0.9.6":
        return
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    migrations = AlembicConfig()
    migrations.set_main_option("script_location", str(Path(nbgrader.__file__).parent / "alembic"))
    head = ScriptDirectory.from_config(migrations).get_current_head()
    nbgrader.api.get_alembic_version = lambda: head


@dataclass
class Workspace:
    """An nbgrader course root below `root` for the assignments of `course`."""

    root: Path
    course: Course = field(default_factory=Course)
    graded_release: bool = False  # releases made here leave out the visible tests' self-study feedback

    def __post_init__(self):
        self.root = Path(self.root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.config = nbgrader_config(self.root)
        self.config.ReleaseMode.graded = self.graded_release
        self.api = quiet_api(self.config)

    def prepare(self, assignment: str) -> Path:
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
