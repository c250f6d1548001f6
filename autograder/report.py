"""The class report for the instructor: `grading/report.html`, rewritten after every batch.

One self-contained page (figures embedded as PNG, no script, nothing fetched) built from the
class's results store (`results/<assignment>/<student>/<notebook>.json`: statuses, notes,
verdicts, the messages students saw) and the gradebook (`autograder.results.rows`: points,
hand-given ones included). It shows, in this order:

- a summary: students, notebooks, mean score, how many submissions are flagged;
- per notebook, the distribution of total scores;
- per exercise, the share of the class with full, partial and zero points, and the most
  frequent mistakes: the visible tests' messages as students saw them, and the hidden tests'
  cases with the kind of difference (`case 'eos reached early': wrong value`), normalised
  so that the same mistake made by different students counts once per student;
- the flagged submissions (needs review, tampered, timed out, over a limit, kernel died,
  corrupt, missing, failed), each with its reason.

It is for instructors only: it quotes hidden-test case names and the grader's own mistake
lines, so it lives beside grades.csv in the grading folder, never in a student's feedback.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import json
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder import results
from autograder.cells import catalog_id, nbgrader_cells
from autograder.workspace import Workspace

REPORT_NAME = "report.html"
TOP_MESSAGES = 5
# Statuses shown in the flagged table, most urgent first ("graded" is not flagged).
FLAGGED = ("tampered", "needs review", "failed", "kernel died", "over a limit", "timed out", "corrupt", "missing")
# The note every notebook graded with --no-sandbox carries: said once in the summary instead.
NO_SANDBOX_NOTE = "graded without the sandbox"

# What a message says about an answer.
MISTAKE = "mistake"
NO_ANSWER = "no answer"  # the answer cell still holds its placeholder
NOT_REACHED = "not reached"  # the check never ran (an earlier line of the cell failed, the kernel died)
STOPPED = ("KernelDied", "NotebookTimeLimit", "CellTimeoutError", "OutputLost")


# --- normalising messages ---------------------------------------------------------------------

_QUOTED = re.compile(r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"")
_BRACKETS = re.compile(r"\[[^\[\]]*\]|\{[^{}]*\}")
_NUMBER = re.compile(r"(?<![\w.\-])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w])")
_ELLIPSES = re.compile(r"…(?:\s*,\s*…)+")


def strip_values(text: str) -> str:
    """`text` with the values that vary from student to student (numbers, quoted strings,
    lists) replaced by "…": "0.8 is not right yet" and "0.81 is not right yet" read alike.
    Identifiers that contain digits (E1-02, ln2) are kept."""
    text = _QUOTED.sub("…", text)
    for _ in range(10):  # nested lists, innermost first
        text, found = _BRACKETS.subn("…", text)
        if not found:
            break
    text = _NUMBER.sub("…", text)
    return _ELLIPSES.sub("…", text).strip()


def normalise_feedback(line: str) -> tuple[str, str]:
    """(the mistake, its kind) for a visible test's one-line message as the student saw it,
    e.g. "ExerciseFailure: Your probability: 0.8 is not right yet. Hint: multiply ..." ->
    "Your probability: … is not right yet. Hint: multiply ...". The hint (the instructor's
    text after "Hint:") is kept verbatim: it is what names the mistake."""
    ename, _, message = line.partition(": ")
    if not message:
        ename, message = "", line
    if ename == "NoAnswerYet" or "has no answer yet" in message or message.startswith("no answer yet"):
        return "no answer yet", NO_ANSWER
    head, said_hint, hint = message.partition(" Hint: ")
    text = strip_values(head) + (f" Hint: {hint.strip()}" if said_hint else "")
    if ename and ename not in ("ExerciseFailure", "AssertionError"):
        text = f"{ename}: {text}"
    return text, NOT_REACHED if ename in STOPPED else MISTAKE


# judge.compare's and judge.credit_for's descriptions of a difference -> (kind of difference, its kind)
_DIFFERENCES = [
    (re.compile(r"^not recorded\b"), lambda m: ("not reached (the test stopped before this check)", NOT_REACHED)),
    (re.compile(r"^raised (NoAnswerYet)\b"), lambda m: ("no answer yet", NO_ANSWER)),
    (re.compile(r"^raised ([\w.]+)"), lambda m: (f"raised {m[1]}", MISTAKE)),
    (re.compile(r"^gave .*, which the grader does not compare$"), lambda m: ("gave a value the grader cannot compare", MISTAKE)),
    (re.compile(r"^expected an? (number|sequence|dict)(?: at \S+)?, got nothing$"),
     lambda m: (f"nothing (None) where a {m[1]} was expected", MISTAKE)),
    (re.compile(r"^expected an? (number|sequence|dict)(?: at \S+)?, got (?:an? )?(\w+)"),
     lambda m: (f"wrong type ({m[2]} where a {m[1]} was expected)", MISTAKE)),
    (re.compile(r"^not a list of step letters\b"), lambda m: ("wrong type (not a list of step letters)", MISTAKE)),
    (re.compile(r"^order \d+% right$"), lambda m: ("order partly right", MISTAKE)),
    (re.compile(r"^\d+ items(?: at \S+)?, expected \d+$"), lambda m: ("wrong length", MISTAKE)),
    (re.compile(r", expected .+$", re.S), lambda m: ("wrong value", MISTAKE)),
]


def normalise_mistake(mistake: str) -> tuple[str, str]:
    """(the mistake, its kind) for one of the grader's "<key>: <what differed>" lines
    (autograder.judge.Verdict.mistakes): the case key and the kind of difference,
    e.g. "eos reached early: [3, 4] items, expected 2" -> "case 'eos reached early': wrong length"."""
    starts = [m.start() for m in re.finditer(": ", mistake)]
    # A key may hold ": " itself: the first split whose key is balanced and whose rest reads as a difference.
    starts.sort(key=lambda start: not _balanced(mistake[:start]))
    for start in starts:
        key, difference = mistake[:start], mistake[start + 2:]
        for pattern, kind in _DIFFERENCES:
            match = pattern.search(difference)
            if match:
                label, what = kind(match)
                return f"case {key!r}: {label}", what
    if starts:
        key, difference = mistake[:starts[0]], mistake[starts[0] + 2:]
        return f"case {key!r}: {strip_values(difference)}", MISTAKE
    return strip_values(mistake), MISTAKE


def _balanced(text: str) -> bool:
    return all(text.count(a) == text.count(b) for a, b in ("()", "[]", "{}")) and text.count("'") % 2 == 0


# --- reading the class ------------------------------------------------------------------------

@dataclass
class Message:
    """One normalised mistake in one exercise, and who made it."""

    text: str
    students: set = field(default_factory=set)
    raw: Counter = field(default_factory=Counter)  # what the students' messages said, verbatim
    where: set = field(default_factory=set)  # "visible test" (the student saw the message), "hidden test"
    kind: str = MISTAKE  # or NOT_REACHED: listed after the mistakes it ties with


@dataclass
class Exercise:
    """One exercise of one notebook, across the class."""

    id: str
    kind: str = ""  # "choice", "code", ... from the question's heading
    max_points: float = 0.0
    manual: bool = False  # graded by hand (an explanation)
    full: int = 0
    partial: int = 0
    zero: int = 0
    pending: int = 0  # not graded by hand yet
    points: list = field(default_factory=list)
    no_answer: set = field(default_factory=set)
    not_run: set = field(default_factory=set)  # students some of whose checks never ran (and nothing else went wrong)
    messages: dict = field(default_factory=dict)  # text -> Message

    def top(self, n: int = TOP_MESSAGES) -> list[Message]:
        return sorted(self.messages.values(), key=lambda m: (-len(m.students), m.kind != MISTAKE, m.text))[:n]


@dataclass
class NotebookReport:
    assignment: str
    notebook: str
    rows: list  # results.NotebookGrade
    exercises: dict  # id -> Exercise, in notebook order

    @property
    def name(self) -> str:
        return self.notebook if self.notebook == self.assignment else f"{self.assignment} / {self.notebook}"

    @property
    def max_score(self) -> float:
        return max((r.max_score for r in self.rows), default=0.0)


def read_class(workspace: Workspace) -> list[NotebookReport]:
    """Every notebook graded in `workspace`, with its exercises and their mistakes."""
    stored = {}
    for path in sorted((workspace.root / "results").glob("*/*/*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        stored[(data["student"], data["assignment"], data["notebook"])] = data
    by_notebook: dict[tuple[str, str], list] = {}
    for row in results.rows(workspace):
        by_notebook.setdefault((row.assignment, row.notebook), []).append(row)
    reports = []
    for (assignment, notebook), rows in sorted(by_notebook.items()):
        rows.sort(key=lambda r: r.student)
        source = _source_notebook(workspace, assignment, notebook)
        exercises = _exercises(rows, source)
        hidden, parts = _cell_roles(source)
        for row in rows:
            _add_messages(exercises, stored.get((row.student, assignment, notebook)) or {}, row.student, hidden, parts)
        reports.append(NotebookReport(assignment, notebook, rows, exercises))
    return reports


def _source_notebook(workspace: Workspace, assignment: str, notebook: str):
    """The instructor's notebook the class was graded against (the grading folder's copy first)."""
    for folder in (workspace.root / "source", workspace.course.source):
        path = folder / assignment / f"{notebook}.ipynb"
        if path.is_file():
            try:
                return nbformat.read(path, as_version=4)
            except Exception:  # an unreadable copy: the report does without exercise kinds
                continue
    return None


def _exercise_kinds(source) -> dict[str, str]:
    """Exercise -> its kind as the question's heading says ("### E1-01 (choice)" -> "choice")."""
    kinds = {}
    for cell in source.cells if source is not None else []:
        if cell.cell_type == "markdown":
            for exercise, kind in re.findall(r"\b(E\d+-\d{2})\s*\(([a-z][\w -]{0,20})\)", cell.source):
                kinds.setdefault(exercise, kind)
    return kinds


def _cell_roles(source) -> tuple[set[str], dict[str, str]]:
    """(the hidden test cells, test cell -> the answer cell it checks: the longest answer id it
    starts with, else its exercise). An answer left blank silences its own tests only."""
    if source is None:
        return set(), {}
    cells = nbgrader_cells(source)
    answers = sorted((c.grade_id for c in cells if c.kind == "answer"), key=len, reverse=True)
    hidden = {c.grade_id for c in cells if c.kind == "test" and c.hidden}
    parts = {c.grade_id: next((a for a in answers if c.grade_id.startswith(a + "-")), c.exercise)
             for c in cells if c.kind == "test"}
    return hidden, parts


def _exercises(rows, source) -> dict[str, Exercise]:
    kinds = _exercise_kinds(source)
    order = [c.exercise for c in nbgrader_cells(source)] if source is not None else []
    ids = {e for r in rows for e in [*r.max_points, *r.manual_max]}
    ids = sorted(ids, key=lambda e: (order.index(e) if e in order else len(order), e))
    exercises = {}
    for exercise_id in ids:
        exercise = exercises[exercise_id] = Exercise(exercise_id, kinds.get(exercise_id, ""))
        for r in rows:
            auto_max, manual_max = r.max_points.get(exercise_id), r.manual_max.get(exercise_id)
            if auto_max is None and manual_max is None:
                continue
            top = (auto_max or 0.0) + (manual_max or 0.0)
            exercise.max_points = max(exercise.max_points, top)
            exercise.manual = exercise.manual or (manual_max is not None and auto_max is None)
            if manual_max is not None and exercise_id not in r.manual and auto_max is None:
                exercise.pending += 1  # an explanation nobody has graded yet
                continue
            got = r.points.get(exercise_id, 0.0) + r.manual.get(exercise_id, 0.0)
            exercise.points.append(got)
            if top > 0 and got >= top - 1e-9:
                exercise.full += 1
            elif got > 1e-9:
                exercise.partial += 1
            else:
                exercise.zero += 1
    return exercises


def _add_messages(exercises: dict[str, Exercise], stored: dict, student: str, hidden: set[str], parts: dict[str, str]):
    """One student's mistakes, per exercise: the visible tests' messages (what the student saw)
    and, for tests that showed none (hidden tests), the grader's mistake lines."""
    if stored.get("status") == "tampered":
        return  # its cells' outputs cannot be trusted: its messages say nothing about the class
    lines = stored.get("feedback_lines") or {}
    found = []  # (exercise, part, text, kind, raw, where)
    for gid, verdict in sorted((stored.get("verdicts") or {}).items()):
        where = "hidden test" if gid in hidden or (not hidden and "hidden" in gid) else "visible test"
        if gid in lines:
            continue  # its message is read below
        for mistake in verdict.get("mistakes") or []:
            found.append((catalog_id(gid), parts.get(gid, catalog_id(gid)), *normalise_mistake(mistake), mistake, where))
    for gid, line in sorted(lines.items()):
        found.append((catalog_id(gid), parts.get(gid, catalog_id(gid)), *normalise_feedback(line), line, "visible test"))
    unanswered = {(exercise, part) for exercise, part, _, kind, _, _ in found if kind == NO_ANSWER}
    others = {(exercise, part) for exercise, part, _, kind, _, _ in found if kind == MISTAKE}
    for exercise_id, part, text, kind, raw, where in found:
        exercise = exercises.get(exercise_id)
        if exercise is None:
            continue
        if (exercise_id, part) in unanswered:
            exercise.no_answer.add(student)  # a blank answer: its tests' other messages say nothing new
            continue
        if kind == NOT_REACHED:  # not a mistake: the check never ran (a cell stopped earlier, the kernel died)
            if (exercise_id, part) not in others:
                exercise.not_run.add(student)
            continue
        message = exercise.messages.setdefault(text, Message(text, kind=kind))
        message.students.add(student)
        message.raw[raw] += 1
        message.where.add(where)


# --- figures ----------------------------------------------------------------------------------

COLOURS = {"full": "#2e7d32", "partial": "#f0a202", "zero": "#c62828", "pending": "#9e9e9e",
           "graded": "#3f6fb5", "flagged": "#d9822b"}


def _png(figure) -> str:
    """A matplotlib figure as a data: URL (the Agg canvas: never a display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def score_figure(report: NotebookReport) -> str:
    """Histogram of the class's total scores on one notebook: graded vs flagged submissions."""
    from matplotlib.figure import Figure

    top = report.max_score or 1.0
    width = 1.0 if top <= 40 else top / 20
    edges = [i * width - width / 2 for i in range(int(top / width) + 2)]
    graded = [r.score for r in report.rows if r.status == "graded"]
    flagged = [r.score for r in report.rows if r.status != "graded"]
    figure = Figure(figsize=(7, 2.8))
    axes = figure.add_subplot()
    axes.hist([graded, flagged], bins=edges, stacked=True, color=[COLOURS["graded"], COLOURS["flagged"]],
              label=["graded", "flagged or not gradable"], edgecolor="white")
    scores = [r.score for r in report.rows]
    if scores:
        mean = statistics.fmean(scores)
        axes.axvline(mean, color="#222222", linestyle="--", linewidth=1)
        axes.annotate(f"mean {mean:.1f}", (mean, 1), xycoords=("data", "axes fraction"), xytext=(4, -12),
                      textcoords="offset points", fontsize=8)
    axes.set_xlim(edges[0], edges[-1])
    axes.set_xlabel(f"total score (of {top:g} points)")
    axes.set_ylabel("students")
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(frameon=False, fontsize=8, ncol=2, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return _png(figure)


def exercise_figure(report: NotebookReport) -> str:
    """One bar per exercise: the share of the class with full, partial and zero points."""
    from matplotlib.figure import Figure

    exercises = list(report.exercises.values())
    figure = Figure(figsize=(7, 0.42 * len(exercises) + 1.0))
    axes = figure.add_subplot()
    labels = [e.id + (f" ({e.kind})" if e.kind else "") for e in exercises]
    left = [0.0] * len(exercises)
    for part in ("full", "partial", "zero", "pending"):
        shares = [100 * getattr(e, part) / max(1, e.full + e.partial + e.zero + e.pending) for e in exercises]
        if part == "pending" and not any(shares):
            continue
        axes.barh(labels, shares, left=left, color=COLOURS[part],
                  label={"pending": "not graded by hand yet"}.get(part, f"{part} points"))
        for y, (x, share) in enumerate(zip(left, shares)):
            if share >= 8:
                axes.text(x + share / 2, y, f"{share:.0f}%", ha="center", va="center", fontsize=7, color="white")
        left = [a + b for a, b in zip(left, shares)]
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.set_xlabel("share of the class (%)")
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(frameon=False, fontsize=8, ncol=4, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return _png(figure)


# --- the page ---------------------------------------------------------------------------------

def e(value) -> str:
    """Any text that came from a student's submission or the grader, safe in HTML."""
    return html.escape(str(value), quote=True)


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "–"


def _reasons(notes: list[str]) -> list[str]:
    return [n for n in notes if not n.startswith(NO_SANDBOX_NOTE)]


_CELL_ID = re.compile(r"\b(?:E\d+-\d{2}[\w-]*|the end of the notebook)")


def collapse_notes(notes: list[str]) -> list[str]:
    """Notes that say the same of several cells, as one: the first, and which other cells it was
    ("tampered: the check before E0-01-test ..." x 8 -> one line, "and the same for E0-02-test, ...")."""
    groups: dict[str, list] = {}
    for note in notes:
        groups.setdefault(_CELL_ID.sub("…", note), []).append(note)
    out = []
    for same in groups.values():
        if len(same) == 1:
            out.append(same[0])
            continue
        others = [m.group(0) for note in same[1:] for m in [_CELL_ID.search(note)] if m]
        out.append(f"{same[0]} (and the same for {', '.join(others)})")
    return out


def render(reports: list[NotebookReport], title: str = "Class report") -> str:
    rows = [r for report in reports for r in report.rows]
    students = sorted({r.student for r in rows})
    flagged = [r for r in rows if r.status != "graded"]
    percents = [100 * r.score / r.max_score for r in rows if r.max_score]
    pending = sum(r.manual_pending for r in rows)
    pending_notebooks = sum(1 for r in rows if r.manual_pending)
    unsandboxed = sum(1 for r in rows if any(n.startswith(NO_SANDBOX_NOTE) for n in r.notes))
    statuses = Counter(r.status for r in rows)
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")

    out = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
           f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{e(title)}</title>"
           f"<style>{CSS}</style></head><body><main>",
           f"<h1>{e(title)}</h1>",
           f"<p class='meta'>Written {e(now)} from the grading results. For instructors only: it names "
           f"hidden test cases and the grader's own notes, so never hand it to students.</p>",
           "<nav><a href='#summary'>Summary</a> · <a href='#notebooks'>Scores per notebook</a> · "
           "<a href='#exercises'>Exercises and frequent mistakes</a> · <a href='#flagged'>Flagged submissions</a></nav>"]

    out.append("<section id='summary'><h2>Summary</h2><div class='cards'>")
    mean = f"{statistics.fmean(percents):.0f}%" if percents else "–"
    for value, label, link in [(len(students), "students", ""), (len(rows), "notebooks graded", ""),
                               (mean, "mean score", ""), (len(flagged), "flagged", "#flagged")]:
        card = f"<div class='card{' warn' if label == 'flagged' and value else ''}'><b>{e(value)}</b><span>{e(label)}</span></div>"
        out.append(f"<a class='cardlink' href='{link}'>{card}</a>" if link else card)
    out.append("</div><ul class='facts'>")
    out.append("<li>Status: " + ", ".join(f"{e(status)} <b>{n}</b>" for status, n in
                                         sorted(statuses.items(), key=lambda s: _status_order(s[0]))) + "</li>"
               if statuses else "<li>Nothing has been graded in this folder yet.</li>")
    if pending:
        out.append(f"<li>{pending:g} points of explanations in {pending_notebooks} notebook(s) are still to be "
                   "graded by hand (formgrader); totals below leave them out until then.</li>")
    if unsandboxed:
        out.append(f"<li class='bad'>{unsandboxed} notebook(s) were graded without the sandbox (--no-sandbox).</li>")
    out.append("</ul></section>")

    out.append("<section id='notebooks'><h2>Scores per notebook</h2>")
    for report in reports:
        scores = [r.score for r in report.rows]
        out.append(f"<h3>{e(report.name)}</h3><p class='stats'>{len(scores)} students · mean "
                   f"{statistics.fmean(scores):.2f} · median {statistics.median(scores):g} · lowest {min(scores):g} · "
                   f"highest {max(scores):g} · of {report.max_score:g} points</p>")
        out.append(f"<img class='figure' src='{score_figure(report)}' alt='{e('Histogram of total scores on ' + report.name)}'>")
    out.append("</section>")

    out.append("<section id='exercises'><h2>Exercises and frequent mistakes</h2>"
               "<p class='explain'>Full, partial and zero points per exercise, then the mistakes the class made most "
               "often: a visible test's message as the students saw it (the values that vary between students "
               "replaced by …), or a hidden test's case and how the answer differed. Counts are students, "
               "each counted once per mistake. Not counted as mistakes: answers left blank, checks that never ran "
               "(a cell stopped earlier), and tampered submissions, whose outputs cannot be trusted.</p>")
    for report in reports:
        out.append(_exercise_section(report))
    out.append("</section>")

    out.append("<section id='flagged'><h2>Flagged submissions</h2>")
    if flagged:
        out.append("<table class='flagged'><thead><tr><th>student</th><th>notebook</th><th>status</th>"
                   "<th class='num'>score</th><th>reason</th></tr></thead><tbody>")
        for r in sorted(flagged, key=lambda r: (_status_order(r.status), r.assignment, r.notebook, r.student)):
            reasons = "".join(f"<li>{e(n)}</li>" for n in collapse_notes(_reasons(r.notes))) or "<li>(no note)</li>"
            out.append(f"<tr><td>{e(r.student)}</td><td>{e(r.notebook)}</td>"
                       f"<td><span class='status s-{e(r.status.replace(' ', '-'))}'>{e(r.status)}</span></td>"
                       f"<td class='num'>{r.score:g} / {r.max_score:g}</td><td><ul>{reasons}</ul></td></tr>")
        out.append("</tbody></table>")
    else:
        out.append("<p>No submission is flagged.</p>")
    noted = [r for r in rows if r.status == "graded" and _reasons(r.notes)]
    if noted:
        out.append(f"<details><summary>{len(noted)} graded notebook(s) with notes from the grader</summary>"
                   "<table><thead><tr><th>student</th><th>notebook</th><th>note</th></tr></thead><tbody>")
        for r in sorted(noted, key=lambda r: (r.assignment, r.notebook, r.student)):
            out.append(f"<tr><td>{e(r.student)}</td><td>{e(r.notebook)}</td><td>{e('; '.join(_reasons(r.notes)))}</td></tr>")
        out.append("</tbody></table></details>")
    out.append("</section>")

    seconds = [r.seconds for r in rows if r.seconds]
    if seconds:
        out.append(f"<footer>Grading took {statistics.fmean(seconds):.1f} s per notebook on average "
                   f"({sum(seconds):.0f} s of work in all).</footer>")
    out.append("</main></body></html>")
    return "\n".join(out)


def _exercise_section(report: NotebookReport) -> str:
    size = len(report.rows)
    out = [f"<h3>{e(report.name)}</h3>"]
    if not report.exercises:
        return out[0] + "<p>No graded exercises.</p>"
    out.append(f"<img class='figure' src='{exercise_figure(report)}' "
               f"alt='{e('Full, partial and zero points per exercise of ' + report.name)}'>")
    out.append("<table class='exercises'><thead><tr><th>exercise</th><th class='num'>points</th>"
               "<th class='num'>mean</th><th class='num'>full</th><th class='num'>partial</th>"
               "<th class='num'>zero</th><th class='num'>no answer</th></tr></thead><tbody>")
    for x in report.exercises.values():
        graded = x.full + x.partial + x.zero
        mean = f"{statistics.fmean(x.points):.2f}" if x.points else "–"
        pending = f" <span class='muted'>({x.pending} to grade by hand)</span>" if x.pending else ""
        out.append(f"<tr><td><a href='#{e(_anchor(report, x))}'>{e(x.id)}</a>"
                   f"{' <span class=muted>' + e(x.kind) + '</span>' if x.kind else ''}{pending}</td>"
                   f"<td class='num'>{x.max_points:g}</td><td class='num'>{mean}</td>"
                   f"<td class='num'>{_pct(x.full, graded)}</td><td class='num'>{_pct(x.partial, graded)}</td>"
                   f"<td class='num'>{_pct(x.zero, graded)}</td>"
                   f"<td class='num'>{'–' if x.manual else _pct(len(x.no_answer), size)}</td></tr>")
    out.append("</tbody></table>")
    for x in report.exercises.values():
        heading = e(x.id) + (f" <span class='muted'>({e(x.kind)})</span>" if x.kind else "")
        out.append(f"<div class='exercise' id='{e(_anchor(report, x))}'><h4>{heading}</h4>")
        if x.manual:
            out.append("<p class='muted'>Graded by hand: the grader has no messages for it.</p></div>")
            continue
        top = x.top()
        summary = f"{x.full} of {x.full + x.partial + x.zero} students have full points"
        if x.no_answer:
            summary += f"; {len(x.no_answer)} gave no answer ({_pct(len(x.no_answer), size)})"
        if x.not_run:
            summary += f"; for {len(x.not_run)}, checks did not run (a cell stopped earlier: see the flagged submissions)"
        out.append(f"<p class='muted'>{e(summary)}.</p>")
        if not top:
            out.append("<p>No mistakes recorded.</p></div>")
            continue
        out.append("<table class='mistakes'><thead><tr><th class='num'>students</th><th class='num'>share</th>"
                   "<th>mistake</th><th>from</th></tr></thead><tbody>")
        for m in top:
            example = m.raw.most_common(1)[0][0].removeprefix("ExerciseFailure: ")
            shown = _short(m.text)
            eg = (f"<div class='eg'>e.g. {e(_short(example))}</div>"
                  if _short(example) != shown and example != m.text else "")
            out.append(f"<tr><td class='num'>{len(m.students)}</td><td class='num'>{_pct(len(m.students), size)}</td>"
                       f"<td>{e(shown)}{eg}</td><td class='muted nowrap'>{e(', '.join(sorted(m.where)))}</td></tr>")
        more = len(x.messages) - len(top)
        out.append("</tbody></table>" + (f"<p class='muted'>and {more} less frequent mistake(s).</p>" if more > 0 else "")
                   + "</div>")
    return "\n".join(out)


def _anchor(report: NotebookReport, exercise: Exercise) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", f"x-{report.assignment}-{report.notebook}-{exercise.id}")


def _short(text: str, width: int = 240) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _status_order(status: str) -> int:
    return FLAGGED.index(status) if status in FLAGGED else (-1 if status == "graded" else len(FLAGGED))


CSS = """
:root { --ink: #1f2328; --muted: #667085; --line: #e4e7ec; --bg: #f7f8fa; --accent: #3f6fb5; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--ink); background: var(--bg); }
main { max-width: 1000px; margin: 0 auto; padding: 24px 20px 48px; background: #fff; min-height: 100vh; }
h1 { margin: 0 0 4px; font-size: 26px; }
h2 { margin-top: 40px; padding-bottom: 6px; border-bottom: 2px solid var(--line); font-size: 21px; }
h3 { margin: 28px 0 6px; font-size: 17px; }
h4 { margin: 22px 0 4px; font-size: 15px; }
a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
nav { margin: 12px 0; padding: 8px 12px; background: var(--bg); border-radius: 6px; font-size: 14px; }
.meta, .muted, .explain, .stats { color: var(--muted); }
.meta { font-size: 13px; margin: 0; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; }
.card { min-width: 150px; padding: 12px 16px; border: 1px solid var(--line); border-radius: 8px; background: #fff; }
.card b { display: block; font-size: 28px; line-height: 1.2; }
.card span { color: var(--muted); font-size: 13px; }
.card.warn { border-color: #d9822b; background: #fff7ed; }
a.cardlink { color: inherit; text-decoration: none; }
.facts { padding-left: 20px; } .bad { color: #b42318; }
img.figure { display: block; max-width: 100%; height: auto; margin: 8px 0 16px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 12px; font-size: 14px; }
th, td { text-align: left; vertical-align: top; padding: 5px 8px; border-bottom: 1px solid var(--line); }
th { background: var(--bg); font-weight: 600; }
.nowrap { white-space: nowrap; }
.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td ul { margin: 0; padding-left: 18px; }
.eg { color: var(--muted); font-size: 12px; margin-top: 2px; font-family: ui-monospace, Menlo, Consolas, monospace; }
.exercise { border-left: 3px solid var(--line); padding-left: 12px; margin: 12px 0 20px; }
.status { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; white-space: nowrap;
          background: #eef2f6; }
.s-tampered, .s-failed { background: #fde2e1; color: #912018; }
.s-needs-review { background: #fff1d6; color: #8a4b08; }
.s-timed-out, .s-over-a-limit, .s-kernel-died { background: #f4ebff; color: #53389e; }
.s-corrupt, .s-missing { background: #eaecf0; color: #344054; }
details { margin: 12px 0; } summary { cursor: pointer; color: var(--accent); }
footer { margin-top: 40px; color: var(--muted); font-size: 13px; }
"""


# --- writing it -------------------------------------------------------------------------------

def report_path(workspace: Workspace) -> Path:
    return workspace.root / REPORT_NAME


def write_report(workspace: Workspace, path: Path | None = None) -> Path:
    """Write the class report (default: `<grading folder>/report.html`) from the stored results
    and the gradebook, and return its path. Written whole, then moved into place."""
    path = Path(path) if path is not None else report_path(workspace)
    feedback = (workspace.root / "feedback").resolve()
    if path.resolve().is_relative_to(feedback):
        raise ValueError(f"the class report is for instructors only; it cannot go into the feedback folder {feedback}")
    reports = read_class(workspace)
    assignments = sorted({r.assignment for r in reports})
    title = "Class report" + (f": {', '.join(assignments)}" if assignments else "")
    results.atomic_write(path, render(reports, title))
    return path
