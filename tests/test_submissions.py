"""autograder.submissions: every layout, and whatever else a student hands in, never breaks a batch.

Folders are built in tmp_path against the real course's notebook names; nothing is graded.
"""

import os
import stat
import threading
import time

import pytest

from autograder.submissions import (MAX_BYTES, Submission, Unreadable, collect, intake, read_submission,
                                    safe_student_id)
from autograder.workspace import Course

COURSE = Course()
A1, A2 = COURSE.assignments()[:2]
NB1, NB2 = COURSE.notebooks(A1)[0], COURSE.notebooks(A2)[0]
NOTEBOOK = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def _write(path, data=NOTEBOOK, mtime=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def _by_student(submissions, notebook=NB1):
    return {s.student: s for s in submissions if s.notebook == notebook}


def _collect_within(seconds, *args, **kwargs):
    """collect() in a thread: a FIFO opened by mistake would block it forever."""
    done = {}
    thread = threading.Thread(target=lambda: done.setdefault("result", intake(*args, **kwargs)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert "result" in done, "collect blocked: it must never open a special file"
    return done["result"]


# --- layouts ---------------------------------------------------------------------------------

def test_each_layout_is_understood_and_a_missing_notebook_reported(tmp_path):
    _write(tmp_path / "ann" / f"{NB1}.ipynb")  # a folder per student
    _write(tmp_path / "ben" / A1 / f"{NB1}.ipynb")  # nbgrader's layout
    _write(tmp_path / "cat" / "notes.txt", b"forgot the notebook")  # nothing to grade
    _write(tmp_path / f"alice_{NB1}.ipynb")  # the README's LMS examples
    _write(tmp_path / f"12345_678_{NB1} (1).ipynb")
    _write(tmp_path / f"Dan Smith_{NB1}-1.ipynb")
    _write(tmp_path / "unrelated.ipynb")  # not a notebook of this course
    found = intake(tmp_path, COURSE)
    subs = _by_student(found.submissions)
    assert set(subs) == {"ann", "ben", "cat", "alice", "12345_678", "Dan_Smith"}
    assert (subs["cat"].path, subs["cat"].problem, subs["cat"].note) == (None, "missing", "no notebook handed in")
    assert subs["ben"].path == tmp_path / "ben" / A1 / f"{NB1}.ipynb"
    assert subs["12345_678"].path.name == f"12345_678_{NB1} (1).ipynb"
    assert all(s.problem is None and s.note == "" for name, s in subs.items() if name != "cat")
    assert {s.notebook for s in found.submissions} == {NB1}  # only assignments someone handed in
    ignored = {i.path.name: i.why for i in found.ignored}
    assert set(ignored) == {"unrelated.ipynb", "notes.txt"}
    assert "no student and notebook" in ignored["unrelated.ipynb"] and "not a notebook" in ignored["notes.txt"]


def test_collect_keeps_its_signature_and_returns_the_submissions(tmp_path):
    _write(tmp_path / "ann" / f"{NB1}.ipynb")
    assert collect(tmp_path, COURSE) == intake(tmp_path, COURSE).submissions
    assert Submission("amy", A1, NB1, None).problem is None  # the old four-field form still builds


def test_an_assignment_expects_all_its_notebooks_and_ignores_other_assignments(tmp_path):
    _write(tmp_path / "ann" / f"{NB2}.ipynb")
    _write(tmp_path / f"bob_{NB2}.ipynb")
    found = intake(tmp_path, COURSE, A1)
    assert [(s.student, s.notebook, s.problem) for s in found.submissions] == [("ann", NB1, "missing")]
    assert {i.path.name for i in found.ignored} == {f"{NB2}.ipynb", f"bob_{NB2}.ipynb"}
    both = _by_student(intake(tmp_path, COURSE).submissions, NB2)
    assert set(both) == {"ann", "bob"} and all(s.problem is None for s in both.values())


def test_mixed_layouts_for_one_student_are_one_student(tmp_path):
    _write(tmp_path / "alice" / f"{NB1}.ipynb", mtime=1_000)
    _write(tmp_path / f"alice_{NB1}.ipynb", mtime=2_000)
    _write(tmp_path / f"alice_{NB2}.ipynb")
    subs = [s for s in collect(tmp_path, COURSE) if s.student == "alice"]
    assert {s.notebook: s.path.name for s in subs} == {NB1: f"alice_{NB1}.ipynb", NB2: f"alice_{NB2}.ipynb"}


# --- special files: rejected without being opened or followed ---------------------------------

def _special_files(tmp_path):
    solution = COURSE.source / A1 / f"{NB1}.ipynb"
    classmate = _write(tmp_path / "ann" / f"{NB1}.ipynb")
    os.mkfifo(tmp_path / f"fifo_{NB1}.ipynb")
    (tmp_path / "pipe").mkdir()
    os.mkfifo(tmp_path / "pipe" / f"{NB1}.ipynb")
    os.mknod(tmp_path / f"sock_{NB1}.ipynb", stat.S_IFSOCK | 0o600)
    (tmp_path / f"dir_{NB1}.ipynb").mkdir()
    (tmp_path / "nested" / f"{NB1}.ipynb").mkdir(parents=True)
    os.symlink(solution, tmp_path / f"sol_{NB1}.ipynb")
    os.symlink(classmate, tmp_path / f"copy_{NB1}.ipynb")
    os.symlink("/etc/passwd", tmp_path / f"pw_{NB1}.ipynb")
    os.symlink(tmp_path / "ann", tmp_path / "linked")  # a whole student folder
    (tmp_path / "inner").mkdir()
    os.symlink(tmp_path / "ann", tmp_path / "inner" / A1)  # nbgrader's layout, through a link
    kinds = {"fifo": "named pipe", "pipe": "named pipe", "sock": "socket", "dir": "folder",
             "nested": "folder", "sol": "symbolic link", "copy": "symbolic link", "pw": "symbolic link",
             "linked": "symbolic link", "inner": "missing"}
    try:
        os.mknod(tmp_path / f"dev_{NB1}.ipynb", stat.S_IFCHR | 0o600, os.makedev(1, 3))  # /dev/null's numbers
        kinds["dev"] = "character device"
    except PermissionError:  # devices need root
        pass
    return kinds


def test_special_files_are_corrupt_with_their_kind_named_and_never_opened(tmp_path):
    kinds = _special_files(tmp_path)
    found = _collect_within(10, tmp_path, COURSE)
    subs = _by_student(found.submissions)
    assert subs["ann"].problem is None
    for student, kind in kinds.items():
        s = subs[student]
        assert s.path is None, student
        if kind == "missing":
            assert s.problem == "missing"
            continue
        assert s.problem == "corrupt" and kind in s.note, (student, s.note)
    notes = " ".join(s.note for s in found.submissions) + " ".join(i.why for i in found.ignored)
    assert "root:" not in notes and str(tmp_path) not in notes  # no content, no absolute path
    ignored = {i.path.relative_to(tmp_path).as_posix() for i in found.ignored}
    assert {"linked", f"pw_{NB1}.ipynb", f"inner/{A1}", f"nested/{NB1}.ipynb"} <= ignored


def test_a_special_file_beside_a_real_one_leaves_the_real_one_graded(tmp_path):
    real = _write(tmp_path / "ann" / f"{NB1}.ipynb")
    (tmp_path / "ann" / "old").mkdir()
    os.mkfifo(tmp_path / "ann" / "old" / f"{NB1} (3).ipynb")
    s = _by_student(_collect_within(10, tmp_path, COURSE).submissions)["ann"]
    assert (s.path, s.problem) == (real, None)
    assert s.note == (f"graded ann/{NB1}.ipynb, the only one that is a file; "
                      f"not graded: ann/old/{NB1} (3).ipynb (a named pipe (FIFO))")
    assert s.ignored == (tmp_path / "ann" / "old" / f"{NB1} (3).ipynb",)


# --- several files for one student and notebook -----------------------------------------------

def test_the_highest_resubmission_number_is_graded(tmp_path):
    _write(tmp_path / f"eve_{NB1}.ipynb", mtime=3_000)
    _write(tmp_path / f"eve_{NB1} (1).ipynb", mtime=1_000)
    _write(tmp_path / f"eve_{NB1} (2).ipynb", mtime=2_000)
    _write(tmp_path / f"fay_{NB1}-1.ipynb")  # Canvas numbers resubmissions this way
    _write(tmp_path / f"fay_{NB1}-2.ipynb")
    found = intake(tmp_path, COURSE)
    subs = _by_student(found.submissions)
    assert subs["eve"].path.name == f"eve_{NB1} (2).ipynb" and subs["eve"].problem is None
    assert subs["eve"].note == (f"graded eve_{NB1} (2).ipynb, the latest resubmission; "
                                f"not graded: eve_{NB1} (1).ipynb, eve_{NB1}.ipynb")
    assert subs["fay"].path.name == f"fay_{NB1}-2.ipynb"
    assert {p.name for p in subs["eve"].ignored} == {f"eve_{NB1}.ipynb", f"eve_{NB1} (1).ipynb"}
    assert {i.path.name for i in found.ignored} == {f"eve_{NB1}.ipynb", f"eve_{NB1} (1).ipynb", f"fay_{NB1}-1.ipynb"}


def test_a_file_in_the_students_folder_beats_a_backup_in_a_subfolder(tmp_path):
    _write(tmp_path / "gus" / f"{NB1}.ipynb", mtime=1_000)
    _write(tmp_path / "gus" / "backup" / f"{NB1}.ipynb", mtime=2_000)
    _write(tmp_path / "hal" / A1 / f"{NB1}.ipynb", mtime=1_000)  # nbgrader's assignment folder is the folder
    _write(tmp_path / "hal" / A1 / "old" / f"{NB1}.ipynb", mtime=2_000)
    subs = _by_student(collect(tmp_path, COURSE))
    assert subs["gus"].path == tmp_path / "gus" / f"{NB1}.ipynb"
    assert subs["gus"].note == (f"graded gus/{NB1}.ipynb, the one nearest the student's folder; "
                                f"not graded: gus/backup/{NB1}.ipynb")
    assert subs["hal"].path == tmp_path / "hal" / A1 / f"{NB1}.ipynb"


def test_then_the_newest_then_the_first_by_name(tmp_path):
    _write(tmp_path / "ida" / f"{NB1}.ipynb", mtime=1_000)
    _write(tmp_path / "ida" / f"{NB1}-Copy1.ipynb", mtime=2_000)  # JupyterLab's "Duplicate"
    _write(tmp_path / "jon" / f"b_{NB1}.ipynb", mtime=1_000)
    _write(tmp_path / "jon" / f"a_{NB1}.ipynb", mtime=1_000)
    subs = _by_student(collect(tmp_path, COURSE))
    assert subs["ida"].path.name == f"{NB1}-Copy1.ipynb" and "the newest" in subs["ida"].note
    assert subs["jon"].path.name == f"a_{NB1}.ipynb" and "the first by name" in subs["jon"].note


# --- names ---------------------------------------------------------------------------------------

def test_a_name_starting_with_a_dot_is_graded_and_kept_apart(tmp_path):
    _write(tmp_path / ".bob" / f"{NB1}.ipynb")
    _write(tmp_path / "bob" / f"{NB1}.ipynb")
    _write(tmp_path / f".carl_{NB1}.ipynb")
    subs = _by_student(collect(tmp_path, COURSE))
    assert subs["_bob"].path == tmp_path / ".bob" / f"{NB1}.ipynb"
    assert subs["bob"].path == tmp_path / "bob" / f"{NB1}.ipynb"
    assert subs["_carl"].path.name == f".carl_{NB1}.ipynb"


def test_names_that_would_share_an_id_are_told_apart(tmp_path):
    _write(tmp_path / "Dan Smith" / f"{NB1}.ipynb")
    _write(tmp_path / "Dan_Smith" / f"{NB1}.ipynb")
    subs = _by_student(collect(tmp_path, COURSE))
    assert subs["Dan_Smith"].path.parent.name == "Dan_Smith"
    (other,) = set(subs) - {"Dan_Smith"}
    assert other.startswith("Dan_Smith-") and len(other) == len("Dan_Smith-") + 6
    assert subs[other].path.parent.name == "Dan Smith"
    assert _by_student(collect(tmp_path, COURSE)).keys() == subs.keys()  # the same every time


@pytest.mark.parametrize("raw, student", [("alice", "alice"), (".bob", "_bob"), ("Dan Smith", "Dan_Smith"),
                                          ("a/b\nc", "a_b_c"), ("é@x.org", "_@x.org"), ("..", "_.")])
def test_safe_student_ids(raw, student):
    assert safe_student_id(raw) == student


def test_junk_is_skipped_silently_and_other_files_are_reported(tmp_path):
    _write(tmp_path / "kim" / f"{NB1}.ipynb")
    _write(tmp_path / "kim" / ".ipynb_checkpoints" / f"{NB1}-checkpoint.ipynb")
    _write(tmp_path / "__MACOSX" / "kim" / f"._{NB1}.ipynb")
    _write(tmp_path / ".DS_Store", b"\0")
    _write(tmp_path / "kim" / ".git" / "HEAD", b"ref: main")
    _write(tmp_path / "kim" / "answers.pdf", b"%PDF")
    _write(tmp_path / "kim" / "other.ipynb")
    found = intake(tmp_path, COURSE)
    assert [s.student for s in found.submissions] == ["kim"] and found.submissions[0].note == ""
    assert {i.path.name for i in found.ignored} == {"answers.pdf", "other.ipynb"}


# --- student patterns ----------------------------------------------------------------------------

def test_a_student_pattern_reads_lms_names(tmp_path):
    _write(tmp_path / f"Dan Smith_{NB1}.ipynb")
    _write(tmp_path / f"submission-s123-{NB1}.ipynb")
    assert "Dan" in _by_student(collect(tmp_path, COURSE, A1, student_pattern=r"^(?P<student>\w+) "))
    assert "s123" in _by_student(collect(tmp_path, COURSE, A1, student_pattern=r"-(?P<student>s\d+)-"))
    nbgrader_style = r"(?P<student_id>s\d+)-(?P<file_id>.*)\.ipynb"  # nbgrader's own group names
    assert _by_student(collect(tmp_path, COURSE, A1, student_pattern=nbgrader_style)).keys() == {"s123"}
    assert "s123" in _by_student(collect(tmp_path, COURSE, A1, student_pattern=r"(?i)-(?P<student>S\d+)-"))


@pytest.mark.parametrize("pattern, message", [(r"(?P<student>[", "is not a regular expression"),
                                              (r"^(\w+)_", "has no group named 'student'"),
                                              (r"(?P<name>\w+)_", "has no group named 'student'")])
def test_a_bad_student_pattern_is_the_instructors_mistake(tmp_path, pattern, message):
    with pytest.raises(ValueError, match=message):
        collect(tmp_path, COURSE, student_pattern=pattern)


def test_the_instructors_mistakes_raise(tmp_path):
    with pytest.raises(ValueError, match="no assignment 'nope'"):
        collect(tmp_path, COURSE, "nope")
    with pytest.raises(ValueError, match="is not a folder of submissions"):
        collect(tmp_path / "absent", COURSE)
    _write(tmp_path / "file")
    with pytest.raises(ValueError, match="is not a folder of submissions"):
        collect(tmp_path / "file", COURSE)


def test_nothing_a_student_hands_in_raises(tmp_path):
    _special_files(tmp_path)
    deep = tmp_path / "deep"
    for _ in range(400):  # deeper than Python's recursion limit would allow a recursive walk
        deep = deep / "d"
    _write(deep / f"{NB1}.ipynb")
    _write(tmp_path / "odd" / f"line\nbreak_{NB1}.ipynb")
    not_utf8 = os.fsencode(tmp_path / "odd") + b"/\xff\xfe_" + NB1.encode() + b".ipynb"
    os.close(os.open(not_utf8, os.O_CREAT | os.O_WRONLY))
    _write(tmp_path / f"   _{NB1}.ipynb")  # a name with no student in it
    _write(tmp_path / "lenny" / "locked" / f"{NB1}.ipynb").parent.chmod(0)  # unreadable, unless we are root
    found = _collect_within(30, tmp_path, COURSE)
    subs = _by_student(found.submissions)
    assert subs["deep"].path == deep / f"{NB1}.ipynb"
    assert all(c.isprintable() for s in found.submissions for c in s.note)
    assert any("no student" in i.why for i in found.ignored)


# --- reading a submission ---------------------------------------------------------------------

def test_read_submission_returns_the_bytes_of_a_regular_file(tmp_path):
    assert read_submission(_write(tmp_path / "a.ipynb")) == NOTEBOOK


def test_read_submission_enforces_the_size_limit(tmp_path):
    path = _write(tmp_path / "big.ipynb", b"x" * 1_500_000)
    assert read_submission(path, max_bytes=1_500_000) == b"x" * 1_500_000
    refused = read_submission(path, max_bytes=1_000_000)
    assert isinstance(refused, Unreadable) and refused == "the notebook is 1.5 MB, more than the limit of 1 MB"
    assert MAX_BYTES == 20_000_000


def test_read_submission_refuses_special_files_without_opening_them(tmp_path):
    os.mkfifo(tmp_path / "fifo.ipynb")
    os.symlink("/etc/passwd", tmp_path / "link.ipynb")
    (tmp_path / "dir.ipynb").mkdir()
    start = time.perf_counter()
    notes = {name: read_submission(tmp_path / name) for name in ["fifo.ipynb", "link.ipynb", "dir.ipynb", "gone.ipynb"]}
    assert time.perf_counter() - start < 5
    assert all(isinstance(note, Unreadable) for note in notes.values())
    assert notes["fifo.ipynb"] == "fifo.ipynb is a named pipe (FIFO), not a notebook file: it was not opened"
    assert notes["link.ipynb"] == "link.ipynb is a symbolic link, not a notebook file: it was not opened"
    assert notes["gone.ipynb"] == "gone.ipynb could not be opened: No such file or directory"
    assert all(str(tmp_path) not in note and "root:" not in note for note in notes.values())
