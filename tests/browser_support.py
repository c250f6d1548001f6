"""What tests/test_browser.py drives: a JupyterLab server of its own, Debian's Chromium through
Playwright, and the notebook as a student sees it in JupyterLab.

Nothing here writes outside temporary folders except screenshots (tests/screenshots/, which
git ignores): every Jupyter folder (runtime, config, data, settings, workspaces, IPython) of
the server is a temporary one, so the user's own JupyterLab state is never touched.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.utils import is_grade, is_locked, is_solution


REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO / "tests" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
# We run as root with the network closed: no sandbox, no GPU, nothing fetched in the background.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# JupyterLab settings for a predictable page: every cell in the DOM (no windowing), no news
# or update checks (the network is closed, and their toast would cover the page).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterLab:
    """`jupyter lab` on a free port with a random token, serving `root`, run from `cwd`
    (default `root`), its Jupyter folders below `scratch`. Use as a context manager."""

    def __init__(self, root: Path, scratch: Path, cwd: Path | None = None, env: dict | None = None,
                 startup_timeout: float = 120):
        self.root, self.scratch, self.cwd = Path(root), Path(scratch), Path(cwd or root)
        self.extra_env, self.startup_timeout = dict(env or {}), startup_timeout
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.process: subprocess.Popen | None = None
        self.log_path = self.scratch / "jupyter-lab.log"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "lab") -> str:
        return f"{self.base}/{path.lstrip('/')}{'&' if '?' in path else '?'}token={self.token}"

    def environment(self) -> dict:
        folders = {name: self.scratch / name for name in
                   ["runtime", "config", "data", "settings", "workspaces", "ipython", "matplotlib"]}
        for folder in folders.values():
            folder.mkdir(parents=True, exist_ok=True)
        for plugin, values in LAB_SETTINGS.items():
            path = folders["settings"] / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        env = {key: value for key, value in os.environ.items()
               if key not in ("JUPYTER_CONFIG_PATH", "AUTOGRADER_EXCHANGE", "ARLIB_RECORD")}
        env.update(JUPYTER_RUNTIME_DIR=str(folders["runtime"]), JUPYTER_CONFIG_DIR=str(folders["config"]),
                   JUPYTER_DATA_DIR=str(folders["data"]), JUPYTERLAB_SETTINGS_DIR=str(folders["settings"]),
                   JUPYTERLAB_WORKSPACES_DIR=str(folders["workspaces"]), IPYTHONDIR=str(folders["ipython"]),
                   MPLCONFIGDIR=str(folders["matplotlib"]),
                   PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        env.update(self.extra_env)
        return env

    def __enter__(self) -> "JupyterLab":
        self.scratch.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
                   f"--port={self.port}", "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1",
                   f"--ServerApp.token={self.token}", f"--ServerApp.root_dir={self.root}",
                   "--LabApp.news_url=", "--ServerApp.terminals_enabled=False"]
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(command, cwd=self.cwd, env=self.environment(), stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.process.returncode}:\n{self.log()}")
            try:
                urllib.request.urlopen(self.url("api/status"), timeout=2).read()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.__exit__(None, None, None)
                    raise RuntimeError(f"jupyter lab did not answer within {self.startup_timeout} s:\n{self.log()}")
                time.sleep(0.3)

    def __exit__(self, *exc):
        if self.process and self.process.poll() is None:
            self.process.terminate()  # the server shuts its kernels down on SIGTERM
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)  # its own session: the server and the kernels it started
                self.process.wait(10)

    def log(self, tail: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-tail:] if self.log_path.exists() else ""

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(self.url(f"api/{path}"), method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shut_down_kernels(self):
        """End every session (and its kernel) of this server: each notebook gets a fresh kernel."""
        for session in self.api("sessions"):
            self.api(f"sessions/{session['id']}", method="DELETE")


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)


def screenshot(page, name: str) -> Path:
    """Save a screenshot of `page` as tests/screenshots/<name>.png (best effort)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    try:
        page.screenshot(path=str(path))
    except Exception:  # a closed or crashed page: the test reports what went wrong anyway
        pass
    return path


# --- what the notebook file says each cell is ---------------------------------------------------

@dataclass(frozen=True)
class PlannedCell:
    index: int  # position among all cells, as in the DOM
    grade_id: str
    code: bool
    role: str  # "answer", "test", "hidden", "manual", "figure", "code" (other locked code), "markdown"
    needs_exercise: bool = False  # a figure that draws what a student's function computes


@dataclass
class NotebookPlan:
    path: Path
    cells: list[PlannedCell] = field(default_factory=list)

    def of_role(self, role: str) -> list[PlannedCell]:
        return [c for c in self.cells if c.role == role]

    def by_id(self, grade_id: str) -> PlannedCell:
        return next(c for c in self.cells if c.grade_id == grade_id)

    @property
    def last_code_cell(self) -> PlannedCell:
        return [c for c in self.cells if c.code][-1]


# A call that draws: viz.<figure>(...) or plt.subplots/figure(...) on a line of its own (not in a
# function defined for later), or plt.show() anywhere.
_FIGURE_CALL = re.compile(r"^(?:\S.*)?\b(?:viz\.\w+|plt\.(?:subplots|figure|imshow|plot|bar))\(|\bplt\.show\(", re.M)


def plan(path: Path) -> NotebookPlan:
    """Each cell's role, from the notebook file and nbgrader's metadata.

    A figure is a locked code cell (not the setup) whose grade_id starts with `figure-` or
    that draws with `viz.` or `plt.` (not only inside a function it defines); it needs an exercise if its grade_id names one (`figure-E1-07`) or its
    source calls a function that an answer cell defines (it may then say "Complete E1-07
    first" instead, until the student has)."""
    nb = nbformat.read(path, as_version=4)
    defined = set()
    for cell in nb.cells:
        if cell.cell_type == "code" and is_solution(cell):
            defined |= set(re.findall(r"^def (\w+)", cell.source, re.M))
    result = NotebookPlan(Path(path))
    for index, cell in enumerate(nb.cells):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
        code = cell.cell_type == "code"
        if not code:
            role = "manual" if is_grade(cell) else "markdown"
        elif is_grade(cell) and is_solution(cell):
            role = "manual"
        elif is_grade(cell):
            hidden = grade_id.endswith("-hidden") or not [
                line for line in cell.source.splitlines() if line.strip() and not line.strip().startswith("#")]
            role = "hidden" if hidden else "test"
        elif is_solution(cell):
            role = "answer"
        elif is_locked(cell) and grade_id != "setup" and (grade_id.startswith("figure-") or _FIGURE_CALL.search(cell.source)):
            role = "figure"
        else:
            role = "code"
        needs = role == "figure" and (bool(re.search(r"E\d+-\d\d", grade_id)) or any(
            re.search(rf"\b{re.escape(name)}\s*\(", cell.source) for name in defined))
        result.cells.append(PlannedCell(index, grade_id, code, role, needs))
    return result


# --- the notebook in JupyterLab ------------------------------------------------------------------

_PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook tab in front
_CELLS = f"[...document.querySelectorAll('{_PANEL} .jp-Notebook .jp-Cell')]"  # in file order (no windowing)

class LabNotebook:
    """One notebook open in a JupyterLab page; cells addressed by their index in the file."""

    def __init__(self, page, lab: JupyterLab, relpath: str):
        self.page, self.lab, self.relpath = page, lab, relpath

    def open(self, cells: int, timeout: float = 120):
        """Open the notebook alone (`?reset`: no tabs restored from an earlier page) and wait
        until its `cells` cells are on the page and its kernel is idle."""
        self.page.goto(self.lab.url(f"lab/tree/{self.relpath}?reset"))
        deadline = time.monotonic() + timeout
        while len(self.prompts()) != cells:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.relpath}: {len(self.prompts())} cells on the page after {timeout} s, "
                                   f"expected {cells}")
            time.sleep(0.25)
        self.wait_for_kernel(max(1.0, deadline - time.monotonic()))
        return self

    # -- state --
    def kernel_status(self) -> str:
        return self.page.evaluate(
            f"() => {{ const e = document.querySelector('{_PANEL} .jp-Notebook-ExecutionIndicator'); "
            "return e ? e.getAttribute('data-status') : '' }") or ""

    def wait_for_kernel(self, timeout: float = 120):
        """Until the kernel has started and is idle."""
        deadline = time.monotonic() + timeout
        while self.kernel_status() != "idle":
            if time.monotonic() > deadline:
                raise TimeoutError(f"the kernel of {self.relpath} is not idle after {timeout} s "
                                   f"(status {self.kernel_status()!r})")
            time.sleep(0.25)

    def prompts(self) -> list[str]:
        """The input prompt of every cell ("" for markdown): "[3]:", "[ ]:" or "[*]:"."""
        return self.page.evaluate(f"""() => {_CELLS}.map(c => {{ const p = c.querySelector('.jp-InputArea-prompt');
            return c.classList.contains('jp-CodeCell') && p ? p.textContent.trim() : '' }})""")

    def execution_count(self, index: int) -> int | None:
        match = re.match(r"\[(\d+)\]", self.prompts()[index])
        return int(match.group(1)) if match else None

    def cell(self, index: int):
        return self.page.locator(f"{_PANEL} .jp-Notebook .jp-Cell").nth(index)

    def output_text(self, index: int) -> str:
        return self.page.evaluate(
            f"(i) => {{ const c = {_CELLS}[i]; const o = c && c.querySelector('.jp-OutputArea'); "
            "return o ? o.innerText : '' }", index)

    def error_text(self, index: int) -> str:
        """The text of the cell's error and stderr outputs (how JupyterLab shows an exception)."""
        return self.page.evaluate(
            f"(i) => {{ const c = {_CELLS}[i]; if (!c) return ''; return [...c.querySelectorAll("
            "'.jp-OutputArea-output[data-mime-type=\"application/vnd.jupyter.stderr\"]')]"
            ".map(o => o.innerText).join('\\n') }", index)

    def images(self, index: int) -> int:
        return self.page.evaluate(
            f"(i) => {{ const c = {_CELLS}[i]; return c ? c.querySelectorAll('.jp-OutputArea-output img').length : 0 }}",
            index)

    def editor_text(self, index: int) -> str:
        return self.cell(index).locator(".cm-content").inner_text()

    # -- actions --
    def menu(self, menu: str, item: str):
        """Click a menu of the menu bar, then one of its items, as a user would."""
        self.page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(menu)}$")).click()
        self.page.locator(".lm-Menu-content .lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).click()

    def focus(self):
        """Make this notebook JupyterLab's current widget (menu commands act on that one) by
        selecting its first cell."""
        self.cell(0).locator(".jp-InputArea-prompt").click()

    def run_all(self, timeout: float = 300, start_timeout: float = 45) -> list[str]:
        """Run > Run All Cells; wait until it has started (a cell waits or ran), the kernel is
        idle and no cell waits to run; return the prompts."""
        before, start = self.prompts(), time.monotonic()
        started, clicks = False, 0
        while True:
            elapsed = time.monotonic() - start
            if not started and clicks < 3 and elapsed >= 15 * clicks:  # a click that went nowhere is retried
                self.focus()
                self.menu("Run", "Run All Cells")
                clicks += 1
            prompts = self.prompts()
            started = started or any("*" in p for p in prompts) or prompts != before
            if started and self.kernel_status() == "idle" and not any("*" in p for p in prompts):
                time.sleep(0.5)  # the last outputs render just after the kernel goes idle
                if self.prompts() == prompts and self.kernel_status() == "idle":
                    return prompts
            if not started and elapsed > start_timeout:
                raise TimeoutError(f"Run All of {self.relpath} did not start within {start_timeout} s")
            if elapsed > timeout:
                raise TimeoutError(f"Run All of {self.relpath} did not finish within {timeout} s")
            time.sleep(0.5)

    def type_into(self, index: int, text: str):
        """Click into the cell's editor, select everything, type `text` line by line."""
        editor = self.cell(index).locator(".cm-content")
        editor.scroll_into_view_if_needed()
        editor.click()
        self.page.keyboard.press("Control+A")
        self.page.keyboard.press("Delete")
        for n, line in enumerate(text.splitlines()):
            if n:
                self.page.keyboard.press("Enter")
                self.page.keyboard.press("Home")  # no auto-indent carried over: the text says its own
            self.page.keyboard.type(line)

    def run_cell(self, index: int, timeout: float = 120) -> int:
        """Select the cell, press Shift+Enter (Run and advance); wait for its new execution count."""
        before = self.execution_count(index)
        self.cell(index).locator(".jp-InputArea-prompt").click()  # command mode, this cell selected
        self.page.keyboard.press("Shift+Enter")
        deadline = time.monotonic() + timeout
        while True:
            count = self.execution_count(index)
            if count is not None and count != before and self.kernel_status() == "idle":
                return count
            if time.monotonic() > deadline:
                raise TimeoutError(f"cell {index} of {self.relpath} did not run within {timeout} s")
            time.sleep(0.25)

    def scroll_to(self, index: int):
        try:
            self.cell(index).scroll_into_view_if_needed(timeout=5000)
        except Exception:
            pass
