"""Find the submissions in a folder, whichever way they were handed in, whatever is in it.

Three layouts are understood (they can be mixed):
- one folder per student with the notebooks in it: `DIR/alice/01-autoregressive-generation.ipynb`;
- nbgrader's own layout: `DIR/alice/01-autoregressive-generation/01-autoregressive-generation.ipynb`;
- the flat files an LMS download gives, each named with the student id and the notebook:
  `DIR/alice_01-autoregressive-generation.ipynb`, `DIR/12345_678_01-autoregressive-generation (1).ipynb`
  (the student id is what comes before the notebook's name, separators trimmed), or
  anything matched by a `student_pattern` regex with a `student` group.

File names are read by nbgrader's own `FileNameCollectorPlugin` (the one `nbgrader zip_collect`
uses), with a `named_regexp` built from the course's notebook names (`DEFAULT_PATTERN`).

Whatever a student hands in, `collect` grades it or reports it; it raises only for the
instructor's mistakes (not a folder, an unknown assignment, a bad student pattern):
- Symbolic links are never followed, and FIFOs, sockets, devices and folders named like a
  notebook are never opened: each is `corrupt`, with a note naming the kind of file.
- Two files for one student and notebook: the graded one is the one with the highest LMS
  resubmission number (`x (2).ipynb` or `x-2.ipynb` > `x (1).ipynb` > `x.ipynb`), then the one
  nearest the student's folder (nbgrader's `<student>/<assignment>/` counts as the folder
  itself; flat files too), then the newest, then the first by name. The note says which
  file was graded and which were not, as paths relative to the submissions folder.
- Student ids keep what makes them distinct: characters other than letters, digits and
  `_.@-` become `_`, and a leading dot becomes `_` (`.bob` is `_bob`, never `bob`). Should two
  names still give one id (`Dan Smith` and `Dan_Smith`), each name that needed changing gets
  `-` and the first six hex digits of its SHA-1 (`Dan_Smith-3a1f0c`).
- Only known junk is skipped without a word (JUNK); every other file that is not graded is
  listed, with why, in `Intake.ignored`.

The grader must grade the bytes `read_submission` returns, never re-read the path: it opens
the file without following links or blocking, and refuses anything but a regular file of at
most `MAX_BYTES`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from nbgrader.plugins import FileNameCollectorPlugin

from autograder.workspace import Course

# A course notebook with its figures is well under 2 MB; 20 MB leaves room for big outputs and
# keeps a single file from filling the grader's memory.
MAX_BYTES = 20_000_000

# What operating systems and tools leave behind: skipped without a note.
JUNK = frozenset({".ipynb_checkpoints", "__MACOSX", ".DS_Store", ".git"})

# nbgrader's named groups: student_id and file_id; `copy` and `attempt` are the resubmission
# numbers browsers and LMSs append (`x (1).ipynb`, Canvas's `x-1.ipynb`). The student id may be
# empty here: inside a student's folder the folder names the student.
DEFAULT_PATTERN = (r"(?s)^(?P<student_id>.*?)[\s_.-]*(?P<file_id>{notebooks})(?P<extra>.*?)"
                   r"(?:\s*\((?P<copy>\d+)\)|-(?P<attempt>\d+))?\.ipynb$")

_QUIET = logging.getLogger("autograder.submissions.filenames")  # the plugin warns on every non-match
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


@dataclass(frozen=True)
class Submission:
    """One student's file for one notebook.

    `path` is the file to grade, None when there is none; then `problem` says why: "missing"
    (nothing handed in) or "corrupt" (only files that cannot be graded, such as a FIFO).
    `note` tells the instructor (and the student, in feedback) what was graded or why not;
    `ignored` holds this student's other files for this notebook, not graded."""

    student: str
    assignment: str
    notebook: str
    path: Path | None
    problem: str | None = None
    note: str = ""
    ignored: tuple[Path, ...] = ()

    @property
    def notes(self) -> list[str]:
        return [self.note] if self.note else []


@dataclass(frozen=True)
class Ignored:
    """A file or folder graded for no one, and why."""

    path: Path
    why: str


@dataclass
class Intake:
    """Everything in a folder of submissions: what to grade, and what is graded for no one."""

    submissions: list[Submission] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)


class Unreadable(str):
    """What `read_submission` returns instead of bytes for a file it will not grade: the reason,
    as a note fit for the student (no content, no absolute path)."""


def collect(folder: Path, course: Course, assignment: str | None = None,
            student_pattern: str | None = None) -> list[Submission]:
    """Every (student, notebook) pair to grade, a missing or unusable notebook included.

    Which notebooks are expected: those of `assignment` if given, else those of every
    assignment that at least one student handed in. See `intake` for the files not graded."""
    return intake(folder, course, assignment, student_pattern).submissions


def intake(folder: Path, course: Course, assignment: str | None = None,
           student_pattern: str | None = None) -> Intake:
    """`collect`'s submissions, and every file in `folder` that is graded for no one."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder of submissions")
    if assignment is not None:
        course.check_assignment(assignment)
    owners = {nb: a for a in ([assignment] if assignment else course.assignments()) for nb in course.notebooks(a)}
    survey = _Survey(folder, owners, _FileNames(owners, student_pattern), assignment)
    survey.run()
    return survey.result()


def read_submission(path: Path, max_bytes: int = MAX_BYTES) -> bytes | Unreadable:
    """The bytes of a submitted notebook, or why they cannot be graded (`Unreadable`): not a
    regular file (it is then not opened), cannot be opened, or more than `max_bytes` bytes."""
    name = _shown(PurePosixPath(Path(path).name))
    try:
        kind = _special_kind(os.lstat(path).st_mode)
        if kind:
            return Unreadable(f"{name} is {kind}, not a notebook file: it was not opened")
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:  # gone, no permission, or swapped for a link since it was found
        return Unreadable(f"{name} could not be opened: {error.strerror}")
    with os.fdopen(descriptor, "rb") as file:
        info = os.fstat(file.fileno())
        kind = _special_kind(info.st_mode)
        if kind:
            return Unreadable(f"{name} is {kind}, not a notebook file")
        data = file.read(max_bytes + 1)  # never more, whatever size the file claims
    if len(data) > max_bytes:
        size = max(info.st_size, len(data))
        return Unreadable(f"the notebook is {_megabytes(size)}, more than the limit of {_megabytes(max_bytes)}")
    return data


def safe_student_id(raw: str) -> str:
    """A student id usable as a folder name and in nbgrader's path patterns (see the module
    docstring); ValueError if nothing is left of `raw`."""
    student = re.sub(r"[^A-Za-z0-9_.@-]+", "_", raw.strip())
    if student.startswith("."):
        student = "_" + student[1:]  # a hidden name stays distinct from the same name without the dot
    if not student.strip("_"):
        raise ValueError(f"cannot make a student id out of {raw!r}")
    return student


# --- file names ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Name:
    student: str  # as written in the file name, separators trimmed; may be ""
    notebook: str
    resubmission: int


class _FileNames:
    """Which student, notebook and resubmission a file name stands for."""

    def __init__(self, owners: dict[str, str], student_pattern: str | None):
        self.owners = owners
        notebooks = "|".join(re.escape(nb) for nb in sorted(owners, key=len, reverse=True)) or r"(?!)"
        self.default = _collector(DEFAULT_PATTERN.format(notebooks=notebooks))
        self.custom = _collector(_student_regexp(student_pattern)) if student_pattern else None

    def in_folder(self, name: str) -> _Name | None:
        """A file in a student's folder: the folder names the student, a student id in the file
        name is not needed (and not used)."""
        found = self.default.collect(name)
        resubmission = found and int(found["copy"] or found["attempt"] or 0)
        return found and _Name(_trim(found["student_id"]), found["file_id"], resubmission)

    def flat(self, name: str) -> _Name | None:
        """A file directly in the submissions folder: it must name the student too."""
        found = self.in_folder(name)
        if self.custom is None:
            return found if found and found.student else None
        custom = self.custom.collect(name)
        if not custom or not _trim(custom["student_id"] or ""):
            return None
        notebook = _which_notebook(custom.get("file_id") or "", self.owners) or (found and found.notebook)
        return notebook and _Name(_trim(custom["student_id"]), notebook, found.resubmission if found else 0)


def _collector(named_regexp: str) -> FileNameCollectorPlugin:
    return FileNameCollectorPlugin(named_regexp=named_regexp, log=_QUIET)


def _student_regexp(pattern: str) -> str:
    """nbgrader's named_regexp for a --student-pattern: `student` becomes nbgrader's
    `student_id`, and the pattern may match anywhere in the name, as a search does."""
    renamed = pattern.replace("(?P<student>", "(?P<student_id>").replace("(?P=student)", "(?P=student_id)")
    flags = re.match(r"(\(\?[aiLmsux]+\))*", renamed).group(0)  # global flags must stay in front
    regexp = f"{flags}(?s:.*?)(?:{renamed[len(flags):]})"
    try:
        groups = re.compile(regexp).groupindex
    except re.error as error:
        raise ValueError(f"the student pattern {pattern!r} is not a regular expression: {error}") from None
    if "student_id" not in groups:
        raise ValueError(f"the student pattern {pattern!r} has no group named 'student' (or nbgrader's "
                         f"'student_id'); for example '^(?P<student>[^_]+)_'")
    return regexp


def _which_notebook(text: str, owners: dict[str, str]) -> str | None:
    """The notebook `text` names: the longest notebook name it contains."""
    matches = [nb for nb in owners if nb in text]
    return max(matches, key=len) if matches else None


def _trim(student: str) -> str:
    """A student id from a file name, without the separators around it (a leading dot stays)."""
    return student.strip().strip("_- ").strip()


# --- the folder ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Candidate:
    """A file that may be a student's copy of a notebook."""

    student: str  # as written (folder or file name)
    notebook: str
    path: Path
    shown: str  # its path relative to the submissions folder, printable
    kind: str | None  # None for a regular file, else why it cannot be graded
    resubmission: int
    depth: int  # subfolders between it and the student's folder
    mtime: float

    def rank(self):
        """Sorts the file to grade first (see the module docstring)."""
        return (-self.resubmission, self.depth, -self.mtime, self.shown)


class _Survey:
    """One pass over a folder of submissions; nothing in it is opened or followed."""

    def __init__(self, folder: Path, owners: dict[str, str], names: _FileNames, assignment: str | None):
        self.folder, self.owners, self.names, self.assignment = folder, owners, names, assignment
        self.candidates: list[_Candidate] = []
        self.students: set[str] = set()  # as written: every student folder and flat-file owner
        self.unusable_folders: dict[str, str] = {}  # student as written -> why their folder cannot be read
        self.ignored: list[Ignored] = []

    def run(self):
        for entry, info in self.entries(self.folder):
            if entry.name.endswith(".ipynb") or not (stat.S_ISDIR(info.st_mode) or stat.S_ISLNK(info.st_mode)):
                self.flat_file(entry, info)
            elif stat.S_ISLNK(info.st_mode):
                self.students.add(entry.name)
                why = "a symbolic link, which is never followed"
                self.unusable_folders[entry.name] = f"the folder {self.shown(entry)} is {why}"
                self.ignore(entry, why)
            else:
                self.students.add(entry.name)
                self.student_folder(entry)

    def flat_file(self, entry, info):
        name = self.names.flat(entry.name)
        if name is None:
            notebook_like = entry.name.endswith(".ipynb")
            what = "named with no student and notebook of this course" if notebook_like else "not a notebook"
            return self.ignore(entry, f"{_special_kind(info.st_mode) or 'a file'}, {what}")
        self.students.add(name.student)
        self.add(name.student, name, entry, info, depth=0)

    def student_folder(self, top):
        folders = [(top, 0)]
        while folders:  # a stack, not recursion: a folder may be nested arbitrarily deep
            folder, depth = folders.pop()
            for entry, info in self.entries(folder):
                mode = info.st_mode
                if stat.S_ISDIR(mode) and not entry.name.endswith(".ipynb"):
                    nbgrader_layout = depth == 0 and entry.name in self.owners.values()
                    folders.append((entry, depth if nbgrader_layout else depth + 1))
                    continue
                name = self.names.in_folder(entry.name)
                if name is None:
                    self.ignore(entry, f"{_special_kind(mode) or 'a file'}, not a notebook of this course")
                else:
                    self.add(top.name, name, entry, info, depth)

    def add(self, student: str, name: _Name, entry, info, depth: int):
        self.candidates.append(_Candidate(student, name.notebook, Path(entry.path), self.shown(entry),
                                          _special_kind(info.st_mode), name.resubmission, depth, info.st_mtime))

    def entries(self, folder):
        """(entry, lstat) of a folder's contents by name, junk left out; never follows a link."""
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as error:
            self.ignored.append(Ignored(Path(folder), f"could not be listed: {error.strerror}"))
            return []
        found = []
        for entry in entries:
            if entry.name in JUNK:
                continue
            try:
                found.append((entry, entry.stat(follow_symlinks=False)))
            except OSError as error:
                self.ignore(entry, f"could not be examined: {error.strerror}")
        return found

    def ignore(self, entry, why: str):
        self.ignored.append(Ignored(Path(entry.path), why))

    def shown(self, entry) -> str:
        return _shown(PurePosixPath(os.path.relpath(entry.path, self.folder)))

    # --- the outcome ---------------------------------------------------------------------------

    def result(self) -> Intake:
        ids = _student_ids(self.students, self.ignored, self.folder)
        chosen: dict[tuple[str, str], list[_Candidate]] = defaultdict(list)
        for candidate in self.candidates:
            if candidate.student in ids:
                chosen[(ids[candidate.student], candidate.notebook)].append(candidate)
        handed_in = {self.assignment} if self.assignment else {self.owners[c.notebook] for c in self.candidates}
        expected = sorted(nb for nb, a in self.owners.items() if a in handed_in)
        broken = {ids[s]: why for s, why in self.unusable_folders.items() if s in ids}
        submissions = []
        for student in sorted(set(ids.values())):
            for notebook in expected:
                files = sorted(chosen.get((student, notebook), []), key=_Candidate.rank)
                submissions.append(self.submission(student, notebook, files, broken.get(student)))
        return Intake(submissions, self.ignored)

    def submission(self, student: str, notebook: str, files: list[_Candidate], broken: str | None) -> Submission:
        """The file graded among `files` (sorted best first), and a note on the others."""
        assignment = self.owners[notebook]
        usable = [f for f in files if f.kind is None]
        graded = usable[0] if usable else None
        others = [f for f in files if f is not graded]
        self.ignored += [Ignored(f.path, f.kind or f"not graded: {graded.shown} was") for f in others]
        if not files:
            problem, note = ("corrupt", broken) if broken else ("missing", "no notebook handed in")
            return Submission(student, assignment, notebook, None, problem, note)
        if graded is None:
            note = "; ".join(f"{f.shown} is {f.kind}, not a notebook file: it was not opened" for f in others)
            return Submission(student, assignment, notebook, None, "corrupt", note, tuple(f.path for f in others))
        if not others:
            return Submission(student, assignment, notebook, graded.path)
        why = _why_first(graded, usable[1]) if len(usable) > 1 else "the only one that is a file"
        rest = ", ".join(f.shown + (f" ({f.kind})" if f.kind else "") for f in others)
        return Submission(student, assignment, notebook, graded.path, None,
                          f"graded {graded.shown}, {why}; not graded: {rest}", tuple(f.path for f in others))


def _why_first(first: _Candidate, second: _Candidate) -> str:
    """Which rule put `first` before `second`."""
    if first.resubmission != second.resubmission:
        return "the latest resubmission"
    if first.depth != second.depth:
        return "the one nearest the student's folder"
    if first.mtime != second.mtime:
        return "the newest"
    return "the first by name"


def _student_ids(students: set[str], ignored: list[Ignored], folder: Path) -> dict[str, str]:
    """Student as written -> student id; two names giving one id are told apart (module docstring)."""
    by_id: dict[str, list[str]] = defaultdict(list)
    for raw in sorted(students):
        try:
            by_id[safe_student_id(raw)].append(raw)
        except ValueError:
            ignored.append(Ignored(folder / raw, "its name gives no student id"))
    ids = {}
    for student, raws in by_id.items():
        for raw in raws:
            ids[raw] = student if len(raws) == 1 or raw == student else f"{student}-{_digest(raw)}"
    return ids


def _digest(raw: str) -> str:
    return hashlib.sha1(raw.encode("utf-8", "surrogateescape")).hexdigest()[:6]


def _special_kind(mode: int) -> str | None:
    """What a file is, if not a regular file: never opened, never followed."""
    kinds = [(stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"),
             (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")]
    if stat.S_ISREG(mode):
        return None
    return next((kind for test, kind in kinds if test(mode)), "not a regular file")


def _shown(path: PurePosixPath) -> str:
    """A path for a note: relative, printable, short (a file name may hold anything)."""
    text = "".join(c if c.isprintable() else "?" for c in str(path))
    return text if len(text) <= 150 else text[:147] + "..."


def _megabytes(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n % 1_000_000 else f"{n // 1_000_000} MB"
