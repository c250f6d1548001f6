"""The grading sandbox (autograder.sandbox) and LimitedExecute (autograder.execute), with real kernels.

Each test runs a small notebook through `LimitedExecute.preprocess`, as nbgrader's autograde
does, and reads what the kernel could and could not do from its outputs, its events
(nb.metadata["autograder"]["events"]) and the host's process table afterwards.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import psutil
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from autograder.execute import KERNEL_DIED, NOTEBOOK_TIME_LIMIT, LimitedExecute
from autograder.sandbox import Limits, bwrap_version, python_folders, sandbox_problem
from autograder.workspace import REPO

pytestmark = pytest.mark.slow

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
STARTUP = REPO / "autograder" / "kernel_startup.py"


@pytest.fixture(scope="module")
def sandbox():
    problem = sandbox_problem()
    if problem is not None:
        pytest.skip(f"no sandbox on this machine: {problem}")


def run(folder: Path, *cells: str, timeout: int = 20, **options):
    """Execute `cells` as nbgrader's autograde would, in `folder`; the notebook afterwards."""
    nb = new_notebook(cells=[new_code_cell(source) for source in cells], metadata={"kernelspec": KERNELSPEC})
    folder.mkdir(parents=True, exist_ok=True)
    options.setdefault("extra_arguments", ["--HistoryManager.enabled=False", f"--IPKernelApp.exec_files={STARTUP}"])
    LimitedExecute(timeout=timeout, **options).preprocess(nb, {"metadata": {"path": str(folder), "name": "homework"}})
    return nb


def printed(cell) -> str:
    return "".join(o.text for o in cell.outputs if o.output_type == "stream")


def said(cell):
    """What a cell printed, as JSON (the probes print one JSON value)."""
    return json.loads(printed(cell))


def errors(cell) -> list[tuple[str, str]]:
    return [(o.ename, o.evalue) for o in cell.outputs if o.output_type == "error"]


def events(nb, kind: str) -> list[dict]:
    return [e for e in nb.metadata["autograder"]["events"] if e["kind"] == kind]


# --- what the kernel sees and can reach: one notebook, read by several tests ------------------

PROBE = """
import json, os
def probe(path):
    try:
        if os.path.isdir(path):
            return sorted(os.listdir(path))
        with open(path, "rb") as f:
            return f"read {len(f.read())} bytes"
    except OSError as error:
        return type(error).__name__
"""

HIDDEN_TEST = """x = "visible part"
### BEGIN HIDDEN TESTS
x = "hidden-test-secret"
### END HIDDEN TESTS"""

ESCAPE = """
import ctypes, errno, subprocess, sys
import arlib
libc = ctypes.CDLL(None, use_errno=True)
def attempt(call):
    try:
        call()
        return "done"
    except OSError as error:
        return errno.errorcode[error.errno]
def syscall(result):
    if result != 0:
        raise OSError(ctypes.get_errno(), "failed")
MS_REMOUNT, MS_BIND, CLONE_NEWUSER = 32, 4096, 0x10000000
print(json.dumps({
    "write arlib": attempt(lambda: open(os.path.join(os.path.dirname(arlib.__file__), "x.py"), "w")),
    "write site-packages": attempt(lambda: open(os.path.join(sys.prefix, "x.pth"), "w")),
    "remount writable": attempt(lambda: syscall(libc.mount(b"none", os.path.dirname(arlib.__file__).encode(), None,
                                                          MS_REMOUNT | MS_BIND, None))),
    # unshare(CLONE_NEWUSER) needs a single-threaded process: a fresh one
    "new user namespace": subprocess.run([sys.executable, "-c", "import ctypes, errno; libc = ctypes.CDLL(None, use_errno=True); "
                                          f"print('done' if libc.unshare({CLONE_NEWUSER}) == 0 else errno.errorcode[ctypes.get_errno()])"],
                                         capture_output=True, text=True).stdout.strip(),
}))
"""

SPAWN = """
import os, subprocess, sys, time
sleeper = [sys.executable, "-c", "import time; time.sleep(1000)", {token!r}]
subprocess.Popen(sleeper, start_new_session=True)   # like `setsid sleep 1000 &`
child = os.fork()
if child == 0:                                      # a double-forked daemon
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, sleeper)
    os._exit(0)
os.waitpid(child, 0)
time.sleep(0.5)
running = [p for p in os.listdir("/proc") if p.isdigit() and {token!r}.encode() in open(f"/proc/{{p}}/cmdline", "rb").read()]
print(json.dumps(len(running)))
"""


NETWORK = """
import socket
out = {{}}
for where in [("127.0.0.1", {port}), ("8.8.8.8", 53)]:
    try:
        socket.create_connection(where, timeout=3); out[where[0]] = "connected"
    except OSError as error:
        out[where[0]] = type(error).__name__
out["interfaces"] = [name for _, name in socket.if_nameindex()]
print(json.dumps(out))
"""

GRADER = """
try:
    os.kill({pid}, 0); reached = "signalled"
except OSError as error:
    reached = type(error).__name__
print(json.dumps({{"kill": reached, "parent": os.getppid(), "pid": os.getpid()}}))
"""


@pytest.fixture(scope="module")
def isolated(sandbox, tmp_path_factory):
    """One sandboxed run probing files, environment, network, the grader, escapes and leftovers:
    what each named cell printed, and what the host saw."""
    root = tmp_path_factory.mktemp("isolation")
    grading = root / "grading-root"
    grading.mkdir()
    (grading / "gradebook.db").write_text("the grades")
    home_file = next((str(p) for p in Path.home().iterdir() if p.is_file()), None)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    token = f"sandbox-test-{uuid.uuid4()}"
    paths = {"solutions": str(REPO / "solutions"), "repo": str(REPO), "startup folder": str(STARTUP.parent),
             "grading root": str(grading / "gradebook.db"), "host tmp": str(root), "home": home_file,
             "passwd": "/etc/passwd", "/home": "/home", "/": "/"}
    cells = {
        "probe": PROBE,
        "files": f"print(json.dumps({{name: probe(path) for name, path in {paths!r}.items() if path}}))",
        "where": "print(json.dumps({'cwd': os.getcwd(), 'files': sorted(os.listdir('.')), 'env': dict(os.environ)}))",
        "copy": "print(json.dumps(open('homework.ipynb').read()))",
        "startup": "import warnings; print(json.dumps(warnings.showwarning.__name__))",
        "arlib": "import arlib; print(json.dumps(arlib.__name__))",
        "network": NETWORK.format(port=listener.getsockname()[1]),
        "grader": GRADER.format(pid=os.getpid()),
        "spawn": SPAWN.format(token=token),
        "escape": ESCAPE,
        "hidden test": HIDDEN_TEST,
    }
    os.environ["AUTOGRADER_TEST_SECRET"] = "grader-only"
    try:
        nb = run(root / "submission", *cells.values(), extra_env={"ARLIB_RECORD": "student"})
    finally:
        del os.environ["AUTOGRADER_TEST_SECRET"]
    try:
        listener.accept()
        accepted = True
    except BlockingIOError:
        accepted = False
    listener.close()
    left_over = [p.pid for p in psutil.process_iter(["cmdline"]) if token in (p.info["cmdline"] or [])]
    return {**{name: cell for name, cell in zip(cells, nb.cells)},
            "home file": home_file, "accepted": accepted, "left over": left_over}


def test_the_kernel_reads_nothing_of_the_repository_the_grading_root_or_home(isolated):
    seen = said(isolated["files"])
    assert seen["solutions"] == "FileNotFoundError"
    assert seen["repo"] == ["arlib", "autograder"]  # only arlib and the startup file are bound
    assert seen["startup folder"] == ["kernel_startup.py"]
    assert seen["grading root"] == "FileNotFoundError"
    assert seen["host tmp"] == "FileNotFoundError"
    assert seen["passwd"] == "FileNotFoundError" and seen["/home"] == "FileNotFoundError"
    if isolated["home file"]:
        assert seen["home"] == "FileNotFoundError"
    assert "etc" not in seen["/"] and "home" not in seen["/"]


def test_the_kernel_works_in_its_own_folder_with_only_the_environment_it_is_given(isolated):
    where = said(isolated["where"])
    assert where["files"] == [".ipython", ".tmp", "homework.ipynb"]
    env = where["env"]
    assert env["HOME"] == where["cwd"] and env["TMPDIR"].startswith(where["cwd"])
    assert env["ARLIB_RECORD"] == "student"
    assert "AUTOGRADER_TEST_SECRET" not in env and "JPY_PARENT_PID" not in env
    copy = said(isolated["copy"])
    assert "visible part" in copy and "hidden-test-secret" not in copy  # its notebook, without hidden tests
    assert said(isolated["startup"]) == "_show_warning_on_stdout"  # the startup file ran
    assert said(isolated["arlib"]) == "arlib"
    assert not Path(where["cwd"]).exists()  # the private folder is gone afterwards


def test_the_kernel_has_no_network_not_even_the_hosts_loopback(isolated):
    seen = said(isolated["network"])
    assert seen["127.0.0.1"] != "connected" and seen["8.8.8.8"] != "connected"
    assert seen["interfaces"] == ["lo"]
    assert not isolated["accepted"]


def test_the_kernel_cannot_see_or_signal_the_grader(isolated):
    seen = said(isolated["grader"])
    assert seen["kill"] == "ProcessLookupError"
    assert seen["parent"] != os.getpid() and seen["pid"] == 2  # pid 2 of a namespace of its own


def test_the_kernel_cannot_write_outside_its_folder_or_gain_privileges(isolated):
    seen = said(isolated["escape"])
    assert seen["write arlib"] == seen["write site-packages"] == "EROFS"
    assert seen["remount writable"] == "EPERM"  # no capability, even when the grader runs as root
    if bwrap_version(shutil.which("bwrap")) >= (0, 8):  # --disable-userns: user.max_user_namespaces = 0 inside
        assert seen["new user namespace"] == "ENOSPC"


def test_nothing_the_kernel_started_outlives_the_notebook(isolated):
    assert said(isolated["spawn"]) == 2  # both were running inside
    assert isolated["left over"] == []


# --- limits -------------------------------------------------------------------------------------

def test_a_large_allocation_fails_and_the_kernel_goes_on(sandbox, tmp_path):
    nb = run(tmp_path, "import numpy, torch",
             "x = torch.empty(6 * 2**30, dtype=torch.uint8)",
             "y = numpy.ones(6 * 2**30, dtype='u1')",
             "print(torch.ones(3).sum().item())",
             limits=Limits(memory_mb=1024))
    assert "can't allocate memory" in errors(nb.cells[1])[0][1]
    assert errors(nb.cells[2])[0][0] == "MemoryError"
    assert printed(nb.cells[3]) == "3.0\n"
    assert [e["cell"] for e in events(nb, "memory")] == [1, 2]


def test_processes_together_over_the_memory_limit_stop_the_kernel(sandbox, tmp_path):
    hog = "import time; b = bytearray(300 * 2**20); time.sleep(60)"
    three_hogs = f"import subprocess, sys, time\nfor _ in range(3): subprocess.Popen([sys.executable, '-c', {hog!r}])"
    nb = run(tmp_path, three_hogs + "\ntime.sleep(30)", "print('not run')", limits=Limits(memory_mb=512))
    assert errors(nb.cells[0])[0][0] == KERNEL_DIED and "512 MB" in errors(nb.cells[0])[0][1]
    assert errors(nb.cells[1]) == [(KERNEL_DIED, "not run: the kernel died in cell 0")]
    assert [e["cell"] for e in events(nb, "memory")] == [0]


def test_processes_and_threads_are_limited(sandbox, tmp_path):
    nb = run(tmp_path, "import os, threading, time\nstop = threading.Event()\nthreads = []",
             "for _ in range(100):\n    threads.append(threading.Thread(target=stop.wait)); threads[-1].start()\ntime.sleep(3)",
             "stop.set(); print(len(threads))")
    if os.geteuid() == 0:  # Linux exempts uid 0 from RLIMIT_NPROC: the watcher stops the kernel
        assert errors(nb.cells[1])[0][0] == KERNEL_DIED and "processes and threads" in errors(nb.cells[1])[0][1]
    else:  # RLIMIT_NPROC: the thread does not start, the kernel goes on
        assert "can't start new thread" in errors(nb.cells[1])[0][1]
        assert int(printed(nb.cells[2])) < 64
    assert [e["cell"] for e in events(nb, "processes")] == [1]


def test_forked_processes_sharing_memory_count_it_once(sandbox, tmp_path):
    fork = "children = []\nfor _ in range(8):\n    pid = os.fork()\n    if pid == 0:\n        time.sleep(60); os._exit(0)\n"
    nb = run(tmp_path, "import os, time, numpy\nx = numpy.ones(200 * 2**20, dtype='u1')",
             fork + "    children.append(pid)\ntime.sleep(1)", "print(len(children))", limits=Limits(memory_mb=1024))
    assert printed(nb.cells[2]) == "8\n"  # 9 x 200 MB of RssAnon, but 200 MB of memory
    assert nb.metadata["autograder"]["events"] == []


def test_output_is_cut_per_cell_and_the_rest_dropped_with_one_note(sandbox, tmp_path):
    nb = run(tmp_path, "print('x' * 20_000_000)", "print('small')",
             "from IPython.display import HTML, display; display(HTML('<b>' + 'h' * 200_000 + '</b>')); print('after')",
             "raise ValueError('z' * 5_000_000)",
             "from IPython.display import display\ndisplay({'application/vnd.autograder.record+json': {'v': 'r' * 100_000}}, raw=True)",
             limits=Limits(cell_output_kb=64))
    first = printed(nb.cells[0])
    assert 64 * 1024 <= len(first) < 65 * 1024 and first.count("output truncated at 64 KB") == 1
    assert printed(nb.cells[1]) == "small\n"
    assert [o.output_type for o in nb.cells[2].outputs] == ["stream"]  # the 200 KB page and the rest ...
    assert printed(nb.cells[2]).strip() == "[output truncated at 64 KB: the rest of this cell's output was dropped]"
    assert len(errors(nb.cells[3])[0][1]) == 64 * 1024  # errors stay, shortened
    assert nb.cells[4].outputs[0].output_type == "display_data"  # records are never cut
    assert [e["cell"] for e in events(nb, "output")] == [0, 2]


def test_output_is_cut_per_notebook(sandbox, tmp_path):
    nb = run(tmp_path, *["print('y' * 50_000)"] * 6, limits=Limits(cell_output_kb=64, notebook_output_kb=128))
    kept = [len(printed(cell)) for cell in nb.cells]
    assert kept[:2] == [50_001, 50_001]
    assert all("the notebook's output reached 128 KB" in printed(cell) for cell in nb.cells[2:])
    assert sum(kept) < 128 * 1024 + 4 * 100
    assert [e["cell"] for e in events(nb, "output")] == [2]


def test_a_single_message_over_the_zmq_cap_is_dropped_and_the_next_cell_runs(sandbox, tmp_path):
    nb = run(tmp_path, "print('x' * 40 * 2**20)", "print('after')")
    assert errors(nb.cells[0])[0][0] == "OutputLost"
    assert printed(nb.cells[1]) == "after\n"
    assert [e["cell"] for e in events(nb, "output")] == [0]


def test_disk_is_limited_per_file_and_in_all(sandbox, tmp_path):
    nb = run(tmp_path, "f = open('big', 'wb', buffering=0); f.seek(9 * 2**20); f.write(b'x')",  # sparse: no disk used
             "import time\nfor i in range(3): open(f'part{i}', 'wb').write(b'x' * 4 * 2**20)\ntime.sleep(10)",
             "print('not run')", limits=Limits(scratch_mb=8))
    assert "File too large" in errors(nb.cells[0])[0][1]
    assert errors(nb.cells[1])[0][0] == KERNEL_DIED and "8 MB" in errors(nb.cells[1])[0][1]
    assert errors(nb.cells[2])[0][0] == KERNEL_DIED
    assert [e["cell"] for e in events(nb, "disk")] == [0, 1]


def test_the_notebook_wall_clock_stops_the_running_cell_and_skips_the_rest(sandbox, tmp_path):
    nb = run(tmp_path, "import time; time.sleep(1.5)", "time.sleep(1.5)", "time.sleep(1.5)", "time.sleep(1.5)",
             timeout=3, limits=Limits(notebook_seconds=4))
    assert errors(nb.cells[0]) == errors(nb.cells[1]) == []
    assert errors(nb.cells[2])[0][0] == NOTEBOOK_TIME_LIMIT and errors(nb.cells[2])[0][1].startswith("stopped")
    assert errors(nb.cells[3])[0][0] == NOTEBOOK_TIME_LIMIT and errors(nb.cells[3])[0][1].startswith("not run")
    assert [e["cell"] for e in events(nb, "notebook time")] == [2]


def test_a_cell_over_its_time_is_interrupted_and_the_kernel_goes_on(sandbox, tmp_path):
    nb = run(tmp_path, "x = 41", "import time; time.sleep(10**6)", "print(x + 1)", timeout=2)
    assert "CellTimeoutError" in [ename for ename, _ in errors(nb.cells[1])]
    assert printed(nb.cells[2]) == "42\n"
    assert [e["cell"] for e in events(nb, "cell time")] == [1]


def test_a_dead_kernel_keeps_earlier_outputs_and_marks_the_rest(sandbox, tmp_path):
    nb = run(tmp_path, "print('before')", "import os; os._exit(1)", "print('after')")
    assert printed(nb.cells[0]) == "before\n"
    assert errors(nb.cells[1]) == [(KERNEL_DIED, "the kernel died while running cell 1")]
    assert errors(nb.cells[2]) == [(KERNEL_DIED, "not run: the kernel died in cell 1")]
    assert [e["cell"] for e in events(nb, "kernel died")] == [1]


def test_without_the_sandbox_output_and_environment_are_still_limited(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOGRADER_TEST_SECRET", "grader-only")
    nb = run(tmp_path, "import json, os; print(json.dumps({'cwd': os.getcwd(), 'env': sorted(os.environ)}))",
             "print('x' * 100_000)", sandbox=False, extra_env={"ARLIB_RECORD": "student"},
             limits=Limits(cell_output_kb=16))
    seen = said(nb.cells[0])
    assert seen["cwd"] == str(tmp_path)  # a plain local kernel, in the notebook's folder
    assert "ARLIB_RECORD" in seen["env"] and "AUTOGRADER_TEST_SECRET" not in seen["env"]
    assert len(printed(nb.cells[1])) < 17 * 1024
    assert [e["cell"] for e in events(nb, "output")] == [1]


# --- where the sandbox cannot run --------------------------------------------------------------

def test_without_bwrap_on_path_the_problem_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    problem = sandbox_problem()
    assert "bubblewrap" in problem
    assert "sudo apt-get install bubblewrap" in problem and "sudo dnf install bubblewrap" in problem


def test_a_kernel_that_cannot_start_in_the_sandbox_says_why(sandbox, tmp_path):
    with pytest.raises(RuntimeError, match="Can't find source path /nonexistent/startup.py"):
        run(tmp_path, "1", extra_arguments=["--IPKernelApp.exec_files=/nonexistent/startup.py"])


NOBODY = 65534
AS_NOBODY = """
import json, os, sys, tempfile
sys.path.insert(0, {repo!r})
from nbformat.v4 import new_code_cell, new_notebook
from autograder.execute import LimitedExecute
from autograder.sandbox import sandbox_problem
threads = "import threading\\nstop = threading.Event()\\nfor _ in range(100): threading.Thread(target=stop.wait).start()"
hide = "import os, time\\nos.mkdir('hidden'); open('hidden/f', 'w').write('x'); os.chmod('hidden', 0); time.sleep(5)"
cells = [new_code_cell("import os; print(os.getuid(), os.getcwd())"), new_code_cell(threads), new_code_cell(hide)]
nb = new_notebook(cells=cells, metadata={{"kernelspec": {kernelspec!r}}})
with tempfile.TemporaryDirectory() as folder:
    LimitedExecute(timeout=30).preprocess(nb, {{"metadata": {{"path": folder}}}})
kernel = nb.cells[0].outputs[0].text
print(json.dumps({{"uid": os.getuid(), "problem": sandbox_problem(), "kernel": kernel, "left": os.path.exists(kernel.split()[1]),
                  "threads": nb.cells[1].outputs[-1].get("evalue"), "events": nb.metadata["autograder"]["events"]}}))
"""


def test_an_unprivileged_user_gets_the_sandbox(sandbox):
    """Instructors are not root: bwrap must work with user namespaces alone."""
    if os.geteuid() != 0:
        pytest.skip("already unprivileged: every other test shows it")
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) is needed to become another user")
    command = ["bwrap", "--dev-bind", "/", "/"] + _python_visible_to_everyone()
    with tempfile.TemporaryDirectory() as home:  # pytest's tmp_path is private to root
        os.chmod(home, 0o777)
        script = AS_NOBODY.format(repo=_repository_visible_to_everyone(Path(home)), kernelspec=KERNELSPEC)
        command += ["--", "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                    "env", f"HOME={home}", f"PATH={os.environ['PATH']}", sys.executable, "-c", script]
        run = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=home)
    assert run.returncode == 0, run.stderr[-2000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["uid"] == NOBODY and seen["problem"] is None
    assert seen["kernel"].startswith("65534 /tmp/autograder-sandbox-")
    assert seen["threads"] == "can't start new thread"  # RLIMIT_NPROC holds for a user that is not root
    assert [(e["kind"], e["cell"]) for e in seen["events"]] == [("processes", 1), ("disk", 2)]  # a folder it cannot read
    assert not seen["left"]  # removed all the same


def _repository_visible_to_everyone(home: Path) -> str:
    """The repository's folder, or, when another user cannot read it (a clone made in a
    `mktemp -d` folder is mode 700), a copy of its two packages in `home`."""
    if all(os.stat(p).st_mode & 0o001 for p in [REPO, *REPO.parents]) and os.stat(REPO).st_mode & 0o004:
        return str(REPO)
    copy = home / "repository"
    for package in ("autograder", "arlib"):
        shutil.copytree(REPO / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
    for path in [copy, *copy.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return str(copy)


def _python_visible_to_everyone() -> list[str]:
    """bwrap arguments (run as root, so no user namespace) showing the Python environment to
    other users when it lives in root's home (here /root/.pyenv, behind /root's mode 700)."""
    home = str(Path.home())
    hidden = [p for p in python_folders() if p.startswith(home + "/")]
    if not hidden:
        return []
    args = ["--perms", "0755", "--tmpfs", home]
    for folder in hidden:
        parts = Path(folder).relative_to(home).parts
        for depth in range(1, len(parts)):
            args += ["--perms", "0755", "--dir", str(Path(home, *parts[:depth]))]
        args += ["--ro-bind", folder, folder]
    return args
