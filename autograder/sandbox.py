"""The sandbox every grading kernel runs in: bubblewrap (`bwrap`), resource limits, a private folder.

What the kernel sees, read-only: the Python environment (sys.prefix, sys.base_prefix and their
site-packages), the system's shared libraries, the package folders named in
`read_only_packages` (`arlib` is an editable install: only its own folder, never the
repository around it) and the startup files named by `--IPKernelApp.exec_files`. Read-write,
one private folder of its own (`Folders`): `scratch/`, its working directory and HOME,
holding a copy of the notebook, and `ipc/`, the connection file and the ZMQ sockets that
the grader talks to it over. Plus a /proc of its own processes and a minimal /dev. Nothing
else: no /etc, /home, /root, no /tmp of the host, no repository, no grading folder.

What it cannot do: reach any network (a network namespace of its own: not even the host's
127.0.0.1), see or signal a process outside (a pid namespace of its own), gain a privilege
(a user namespace of its own, an unprivileged uid, no capabilities, no nested user
namespaces), reach a terminal (a session of its own, so no TIOCSTI), or outlive its
grading: the whole pid namespace is killed at shutdown, and with the grader.

Limits (`Limits`): memory (RLIMIT_DATA per process; a watcher thread on all of them together),
processes and threads (RLIMIT_NPROC, counted in the sandbox's own user namespace; the watcher
when the grader runs as root, which Linux exempts), disk (RLIMIT_FSIZE per file; the watcher
on the whole folder). Output and wall-clock limits are enforced by the grader as outputs
arrive (`autograder.execute`).
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import json
import os
import re
import select
import shutil
import signal
import site
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import zmq
from jupyter_client.manager import AsyncKernelManager
from traitlets import Bytes, Dict, Instance, Integer, List, Unicode

# The kernel runs as this uid and gid inside the sandbox, whoever runs the grader. As uid 0
# it would hold every capability in its user namespace, enough to remount a read-only bind
# writable (tried: it could then write into site-packages).
SANDBOX_UID = 65534
# What a kernel may send in one ZMQ message. A larger one is dropped by ZMQ before the grader
# reads it (so a 300 MiB print never costs the grader 300 MiB); far above the output kept
# per cell, so the grader still sees the start of a large print and cuts it itself, and
# above the largest record arlib.grading.record makes (200,000 numbers, about 5 MB).
MAX_MESSAGE_BYTES = 32 * 2**20
# nbgrader tells notebooks how they are being run; every other variable of the grader stays out.
NBGRADER_VARIABLES = ("NBGRADER_EXECUTION", "NBGRADER_VALIDATING")
PACKAGES = ["arlib"]  # installed outside the Python environment (editable): their folders are bound
WATCH_SECONDS = 0.25  # how often the watcher measures the sandbox's disk and memory
BLOCK = 4096  # every file counts at least one disk block, so a million empty files is over the limit too
MB = 2**20


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 4096  # RLIMIT_DATA for the kernel and its children (RLIMIT_AS breaks torch/OpenBLAS)
    processes: int = 64  # processes + threads in the sandbox (RLIMIT_NPROC); an ipykernel with torch uses about 15
    scratch_mb: int = 256  # disk the kernel may write in its private folder
    cell_output_kb: int = 1024  # output kept per cell (text and images); the rest dropped with one note
    notebook_output_kb: int = 4096  # output kept per notebook
    # Wall clock for the whole notebook (Execute.timeout, 60 s, stays the per-cell limit): every
    # solution runs in under 20 s, so cells that each stay just under the per-cell limit are
    # stopped after the third.
    notebook_seconds: int = 180

    def __post_init__(self):
        for name, value in vars(self).items():
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"Limits.{name} must be a positive whole number, not {value!r}")


# --- where things are -------------------------------------------------------------------------

@dataclass(frozen=True)
class Folders:
    """One kernel's private folder. Only `scratch`, `ipc` and `shm` are visible in the sandbox."""

    root: Path

    @classmethod
    def create(cls) -> Folders:
        folders = cls(Path(tempfile.mkdtemp(prefix="autograder-sandbox-")).resolve())
        for folder in (folders.scratch, folders.tmp, folders.ipc, folders.shm):
            folder.mkdir(parents=True)
        return folders

    @property
    def scratch(self) -> Path:  # working directory, HOME
        return self.root / "scratch"

    @property
    def tmp(self) -> Path:  # TMPDIR
        return self.scratch / ".tmp"

    @property
    def ipc(self) -> Path:  # connection file and sockets, bound at the same path
        return self.root / "ipc"

    @property
    def shm(self) -> Path:  # /dev/shm inside, on disk so that it counts against scratch_mb
        return self.root / "shm"

    @property
    def log(self) -> Path:  # bwrap's and the kernel's own stdout and stderr
        return self.root / "kernel.log"

    def remove(self):
        """Delete it all, folders that the kernel made unreadable too (it has the grader's uid)."""
        for folder, dirs, _ in os.walk(self.root):
            for name in dirs:
                path = os.path.join(folder, name)
                if not os.path.islink(path):  # never chmod where a student's symlink points
                    try:
                        os.chmod(path, 0o700)
                    except OSError:
                        pass
        shutil.rmtree(self.root, ignore_errors=True)


def python_folders() -> list[str]:
    """The Python environment: prefixes and site-packages (a venv's and its base's)."""
    paths = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *site.getsitepackages()]
    return _outermost(os.path.realpath(p) for p in paths if os.path.isdir(p))


def package_folders(names) -> list[str]:
    """Where the packages `names` live (found without importing them)."""
    folders = []
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is None:
            raise ModuleNotFoundError(f"the sandbox should show package {name!r} to the kernel, but it is not installed")
        folders += spec.submodule_search_locations or [os.path.dirname(spec.origin)]
    return [os.path.realpath(f) for f in folders]


def startup_files(kernel_cmd: list[str]) -> list[str]:
    """The files named by --IPKernelApp.exec_files=..., one path or a Python list of paths."""
    files = []
    for arg in kernel_cmd:
        if arg.startswith("--IPKernelApp.exec_files="):
            value = arg.split("=", 1)[1].strip()
            files += ast.literal_eval(value) if value.startswith("[") else [value]
    return [os.path.realpath(f) for f in files]


def library_arguments() -> list[str]:
    """bwrap arguments for the shared libraries that Python and its extension modules load.

    Measured: everything they link against (libc, libstdc++, libgomp's deps, libz, libffi,
    libssl, ...) and the dynamic loader are in /usr/lib/<multiarch> and /lib64 on Debian and
    Ubuntu (/usr/lib64 on Fedora); /etc, /usr/bin and /usr/share are not needed. Top-level
    symlinks (/lib -> usr/lib on merged-/usr systems) stay symlinks."""
    args = []
    for top in ("/lib", "/lib64", "/lib32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
    multiarch = sysconfig.get_config_var("MULTIARCH")
    candidates = [f"/usr/lib/{multiarch}", f"/lib/{multiarch}"] if multiarch else ["/usr/lib", "/lib"]
    for folder in _outermost(os.path.realpath(p) for p in candidates + ["/usr/lib64", "/lib64"] if os.path.isdir(p)):
        args += ["--ro-bind", folder, folder]
    return args


def _outermost(paths) -> list[str]:
    """`paths` without duplicates and without those inside another one."""
    unique = sorted(set(paths))
    return [p for p in unique if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in unique)]


# --- the command --------------------------------------------------------------------------------

def sandbox_command(kernel_cmd: list[str], folders: Folders, limits: Limits, read_only: list[str],
                    info_fd: int | None = None) -> list[str]:
    """`kernel_cmd` run by bwrap in the sandbox, under prlimit's limits."""
    bwrap, prlimit = shutil.which("bwrap"), shutil.which("prlimit")
    if bwrap is None or prlimit is None:
        raise RuntimeError(_problem(bwrap, prlimit))
    args = [bwrap, "--unshare-all", "--unshare-user",  # every namespace: user, pid, network, ipc, uts, cgroup
            "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--cap-drop", "ALL",
            "--die-with-parent", "--new-session",
            # In its own pid namespace the kernel's parent is pid 1: it would think the grader
            # had exited and stop.
            "--unsetenv", "JPY_PARENT_PID"]
    if bwrap_version(bwrap) >= (0, 8):
        # No user namespace inside: in one, the kernel could mount a tmpfs, memory that no limit
        # counts. bwrap 0.6 (Ubuntu 22.04) lacks the option; the rest of the sandbox holds.
        args.append("--disable-userns")
    if info_fd is not None:
        args += ["--info-fd", str(info_fd)]
    args += library_arguments()
    for path in _outermost(read_only + [prlimit]):
        args += ["--ro-bind", path, path]
    for path in (folders.ipc, folders.scratch):
        args += ["--bind", str(path), str(path)]
    args += ["--proc", "/proc", "--dev", "/dev", "--bind", str(folders.shm), "/dev/shm",
             # bwrap's / and /dev are writable tmpfs, that is unlimited memory: read-only they are.
             "--remount-ro", "/dev", "--remount-ro", "/",
             "--chdir", str(folders.scratch), "--"]
    # Set inside the sandbox: RLIMIT_NPROC counts the processes of a user in a user namespace,
    # so set before bwrap makes its namespace it would count all of the instructor's processes.
    args += [prlimit, f"--data={limits.memory_mb * MB}", f"--nproc={limits.processes}",
             f"--fsize={limits.scratch_mb * MB}", "--core=0", "--"]
    return args + kernel_cmd


@functools.cache
def bwrap_version(bwrap: str) -> tuple[int, ...]:
    """(0, 8, 0) for "bubblewrap 0.8.0"."""
    said = subprocess.run([bwrap, "--version"], capture_output=True, text=True).stdout
    return tuple(int(n) for n in re.findall(r"\d+", said)[:3])


def library_threads() -> int:
    """Threads for OpenMP, OpenBLAS and MKL pools: without a cap they start one per core (on a
    64-core machine, over the `processes` limit at `import numpy`); an idle ipykernel has 12."""
    return max(1, min(len(os.sched_getaffinity(0)), 8))


def sandbox_environment(folders: Folders, extra_env: dict) -> dict[str, str]:
    """Everything the kernel's environment holds: its own folders, the grader's `extra_env`."""
    scratch = str(folders.scratch)
    env = {
        "PATH": os.pathsep.join(dict.fromkeys([os.path.dirname(sys.executable), os.path.join(sys.prefix, "bin")])),
        "HOME": scratch,
        "IPYTHONDIR": os.path.join(scratch, ".ipython"),
        # matplotlib's font cache: built here by each kernel that plots, in 0.1 to 0.3 s
        # (it sees only matplotlib's own fonts)
        "MPLCONFIGDIR": os.path.join(scratch, ".config", "matplotlib"),
        "TMPDIR": str(folders.tmp),
        "LANG": "C.UTF-8",
        "USER": "student", "LOGNAME": "student",  # there is no /etc/passwd to look the uid up in
    }
    env.update(dict.fromkeys(["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"], str(library_threads())))
    env.update({k: os.environ[k] for k in NBGRADER_VARIABLES if k in os.environ})
    env.update({str(k): str(v) for k, v in extra_env.items()})
    return env


# --- does it work here? -------------------------------------------------------------------------

def sandbox_problem() -> str | None:
    """None if the sandbox works on this machine (bwrap is run once with the real flags, and
    the answer cached); otherwise one message saying what is wrong and how to fix it."""
    return _problem(shutil.which("bwrap"), shutil.which("prlimit"))


@functools.cache
def _problem(bwrap: str | None, prlimit: str | None) -> str | None:
    if bwrap is None:
        return ("the grading sandbox needs bubblewrap (bwrap), which is not on PATH: install the package "
                "`bubblewrap` (Debian, Ubuntu: `sudo apt-get install bubblewrap`; Fedora: `sudo dnf install bubblewrap`)")
    if prlimit is None:
        return ("the grading sandbox needs prlimit, which is not on PATH: install the package `util-linux` "
                "(Debian, Ubuntu: `sudo apt-get install util-linux`; Fedora: `sudo dnf install util-linux`)")
    try:
        read_only = python_folders() + package_folders(PACKAGES)
    except ModuleNotFoundError as error:
        return f"the grading sandbox cannot start: {error}"
    folders = Folders.create()
    try:
        probe = [sys.executable, "-c", "import ipykernel; print('sandbox ok')"]
        run = subprocess.run(sandbox_command(probe, folders, Limits(), read_only), capture_output=True, text=True,
                             timeout=60, start_new_session=True, env=sandbox_environment(folders, {}))
    except subprocess.TimeoutExpired:
        return "the grading sandbox did not start within 60 s (bwrap ran; Python in it did not finish)"
    finally:
        folders.remove()
    if run.returncode == 0 and run.stdout.strip() == "sandbox ok":
        return None
    return _explain_failure(run.stderr.strip())


def _explain_failure(stderr: str) -> str:
    said = stderr.splitlines()[-1] if stderr else "no message"
    sysctls = {  # file under /proc/sys -> (value that blocks user namespaces, the fix)
        "kernel/unprivileged_userns_clone": ("0", "sudo sysctl -w kernel.unprivileged_userns_clone=1"),
        "user/max_user_namespaces": ("0", "sudo sysctl -w user.max_user_namespaces=15000"),
        "kernel/apparmor_restrict_unprivileged_userns": (
            "1", "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 "
                 "(or give bwrap an AppArmor profile that allows userns)"),
    }
    for name, (blocking, fix) in sysctls.items():
        try:
            value = Path("/proc/sys", name).read_text().strip()
        except OSError:
            continue
        if value == blocking:
            return (f"the grading sandbox cannot start: unprivileged user namespaces are off "
                    f"({name.replace('/', '.')} = {value}); turn them on with `{fix}` (bwrap said: {said})")
    return f"the grading sandbox cannot start: bwrap failed ({said})"


# --- the kernel managers --------------------------------------------------------------------------

class GradingKernelManager(AsyncKernelManager):
    """A local kernel as the grader starts it: only the environment variables it is given, ZMQ
    messages capped, and stoppable at once from any thread (`stop_now`). Used with --no-sandbox."""

    extra_env = Dict(help="environment variables passed into the kernel; nothing else of the "
                     "grader's leaks in").tag(config=True)
    max_message_bytes = Integer(MAX_MESSAGE_BYTES, help="larger ZMQ messages from the kernel are "
                                "dropped").tag(config=True)

    stopped_by: tuple[str, str] | None = None  # (event kind, detail) when the grader killed the kernel

    def kernel_environment(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR", "USER", "LOGNAME") if k in os.environ}
        env.update({k: os.environ[k] for k in NBGRADER_VARIABLES if k in os.environ})
        env.update({str(k): str(v) for k, v in self.extra_env.items()})
        return env

    async def _async_pre_start_kernel(self, **kw):
        self.stopped_by = None
        kw["env"] = self.kernel_environment()
        return await super()._async_pre_start_kernel(**kw)

    def client(self, **kwargs):
        kc = super().client(**kwargs)
        kc.context.setsockopt(zmq.MAXMSGSIZE, self.max_message_bytes)  # every socket the client opens
        return kc

    def stop_now(self, kind: str, detail: str):
        """Kill the kernel and everything it started, saying why (thread-safe: one signal)."""
        self.stopped_by = self.stopped_by or (kind, detail)
        process = getattr(self.provisioner, "process", None)
        if process is not None and process.poll() is None:  # not reaped: its pid is still its own
            try:
                os.killpg(process.pid, signal.SIGKILL)  # the launcher made the kernel a session leader
            except ProcessLookupError:
                pass


class SandboxedKernelManager(GradingKernelManager):
    """Starts the ipykernel under bwrap; talks to it over ipc sockets in a private folder."""

    limits = Instance(Limits, args=()).tag(config=True)
    read_only_packages = List(Unicode(), PACKAGES, help="packages the kernel may import from outside the "
                              "Python environment (their folders only)").tag(config=True)
    workdir_files = Dict(value_trait=Bytes(), help="file name -> content, written into the kernel's "
                         "working directory before it starts")

    folders: Folders | None = None
    last_words = ""  # the end of the kernel's log, kept when its folder is removed
    _sandbox: psutil.Process | None = None  # pid 1 of the sandbox's pid namespace, as the host sees it
    _watcher: _Watcher | None = None

    def __init__(self, **kwargs):
        kwargs.setdefault("transport", "ipc")  # no TCP: the sandbox has no network to listen on
        super().__init__(**kwargs)

    def kernel_environment(self) -> dict[str, str]:
        return sandbox_environment(self.folders, self.extra_env)

    async def _async_pre_start_kernel(self, **kw):
        self.folders = Folders.create()
        for name, content in self.workdir_files.items():
            (self.folders.scratch / Path(name).name).write_bytes(content)
        self.connection_file = str(self.folders.ipc / "kernel.json")
        self.ip = str(self.folders.ipc / "kernel")  # sockets kernel-1, kernel-2, ...
        return await super()._async_pre_start_kernel(**kw)

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        read_only = python_folders() + package_folders(self.read_only_packages) + startup_files(kernel_cmd)
        info_read, info_write = os.pipe()
        cmd = sandbox_command(kernel_cmd, self.folders, self.limits, read_only, info_fd=info_write)
        with open(self.folders.log, "ab") as log:
            kw.update(stdout=log, stderr=log, cwd=str(self.folders.root), pass_fds=(info_write,))
            try:
                await super()._async_launch_kernel(cmd, **kw)
            finally:
                os.close(info_write)
        self._sandbox = psutil.Process(self._read_sandbox_pid(info_read))
        self._watcher = _Watcher(self)
        self._watcher.start()

    def _read_sandbox_pid(self, info_read: int) -> int:
        """bwrap writes its child's pid to --info-fd once the sandbox exists, or exits."""
        with os.fdopen(info_read, "rb") as info:
            ready, _, _ = select.select([info], [], [], 30)
            data = info.read() if ready else b""
        if not data:
            said = self.log_tail() or "bwrap said nothing"
            self.folders.remove()
            raise RuntimeError(f"the grading sandbox did not start: {said}")
        return json.loads(data)["child-pid"]

    def log_tail(self, size: int = 2000) -> str:
        """The end of what bwrap and the kernel wrote to their stdout and stderr."""
        try:
            with open(self.folders.log, "rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - size))
                return log.read().decode(errors="replace").strip()
        except (OSError, AttributeError):
            return ""

    def sandbox_pids(self) -> list[int]:
        """Every process of the sandbox, as the host numbers them: pid 1 of its namespace (bwrap's
        init) and its descendants, which are all the others (orphans are reparented to it)."""
        try:
            return [p.pid for p in [self._sandbox] + self._sandbox.children(recursive=True)]
        except (psutil.Error, AttributeError):
            return []

    def kernel_pid(self) -> int | None:
        """The kernel's pid as the host sees it: pid 2 of the sandbox, the child of bwrap's init."""
        try:
            children = self._sandbox.children()
        except (psutil.Error, AttributeError):
            return None
        return next((c.pid for c in children if proc_fields(c.pid, "status", ("NSpid",))["NSpid"] == 2), None)

    async def _async_signal_kernel(self, signum: int):
        # jupyter_client signals the process group of what it started, here bwrap itself, which
        # dies of SIGINT and takes the sandbox with it: interrupts go to the kernel instead.
        pid = self.kernel_pid()
        if pid is not None:  # else it is gone already, as jupyter_client tolerates
            os.kill(pid, signum)

    signal_kernel = _async_signal_kernel  # interrupt_kernel calls the one above already

    def stop_now(self, kind: str, detail: str):
        self.stopped_by = self.stopped_by or (kind, detail)
        self.kill_sandbox()

    def kill_sandbox(self, wait: float = 0):
        """SIGKILL pid 1 of the sandbox. The kernel (Linux's) then kills every process of its pid
        namespace, daemons included, and reaps them all before pid 1 is done exiting: so once
        it is a zombie or gone, nothing of the sandbox runs. With `wait`, wait for that."""
        if self._sandbox is None:
            return
        try:
            self._sandbox.kill()  # psutil checks the pid was not reused
            deadline = time.monotonic() + wait
            while self._sandbox.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
                time.sleep(0.01)
        except psutil.NoSuchProcess:
            pass

    async def _async_kill_kernel(self, restart: bool = False):
        self.kill_sandbox()  # first: bwrap then exits by itself, its child reaped
        await super()._async_kill_kernel(restart=restart)

    async def _async_cleanup_resources(self, restart: bool = False):
        if self._watcher is not None:
            self._watcher.stop()
        self.kill_sandbox(wait=5)
        await super()._async_cleanup_resources(restart=restart)
        if self.folders is not None and not restart:
            self.last_words = self.log_tail()
            self.folders.remove()

    cleanup_resources = _async_cleanup_resources  # what nbclient calls (AsyncKernelManager binds the base one)


def proc_fields(pid: int, filename: str, names: tuple[str, ...]) -> dict[str, int]:
    """Numbers from /proc/<pid>/<filename> ("Name:  value [kB]" lines), 0 for a process gone."""
    found = dict.fromkeys(names, 0)
    try:
        for line in Path(f"/proc/{pid}/{filename}").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in found:
                found[name] = int(value.split()[-1] if name == "NSpid" else value.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return found


def disk_usage(root: Path) -> int | None:
    """Disk used below `root`: allocated blocks, at least one block per file or folder. None if
    a folder cannot be read (its owner, the grader's user, made it so from inside)."""
    total, unreadable = 0, []
    for folder, dirs, files in os.walk(root, onerror=unreadable.append):
        for name in dirs + files:
            try:
                total += max(os.lstat(os.path.join(folder, name)).st_blocks * 512, BLOCK)
            except FileNotFoundError:  # removed meanwhile
                pass
    return None if any(not isinstance(e, FileNotFoundError) for e in unreadable) else total


class _Watcher(threading.Thread):
    """Every WATCH_SECONDS, what RLIMITs cannot hold: the sandbox's disk (RLIMIT_FSIZE is per
    file), the memory of all its processes together (RLIMIT_DATA is per process) and, when the
    grader runs as root, its processes and threads (Linux never applies RLIMIT_NPROC to uid 0,
    which the sandbox's uid maps to). Over a limit, it kills the sandbox and says why."""

    def __init__(self, manager: SandboxedKernelManager):
        super().__init__(name="sandbox-watcher", daemon=True)
        self.manager = manager
        self.stopping = threading.Event()

    def stop(self):
        self.stopping.set()

    def run(self):
        while not self.stopping.wait(WATCH_SECONDS):
            over = self.over_a_limit()
            if over:
                self.manager.stop_now(*over)
                return

    def over_a_limit(self) -> tuple[str, str] | None:
        limits = self.manager.limits
        used = disk_usage(self.manager.folders.root)
        if used is None:
            return "disk", "the notebook made a folder that the grader cannot measure, so the kernel was stopped"
        if used > limits.scratch_mb * MB:
            return "disk", f"the notebook wrote more than {limits.scratch_mb} MB of files, so the kernel was stopped"
        pids = self.manager.sandbox_pids()
        status = [proc_fields(pid, "status", ("Threads", "RssAnon", "RssShmem")) for pid in pids]
        if sum(s["Threads"] for s in status) > limits.processes + 1:  # + bwrap's init
            return "processes", (f"the notebook ran more than {limits.processes} processes and threads, "
                                 "so the kernel was stopped")
        if self.memory_kb(pids, status, limits.memory_mb * 1024) > limits.memory_mb * 1024:
            return "memory", (f"the notebook's processes together used more than {limits.memory_mb} MB "
                              "of memory, so the kernel was stopped")
        return None

    @staticmethod
    def memory_kb(pids, status, limit_kb: int) -> int:
        """Anonymous and shared memory of all the processes. RssAnon counts a page that forked
        processes share once in each: cheap, and an upper bound; only when that is over the
        limit is the proportional share (PSS, 5 ms a process) worth reading."""
        total = sum(s["RssAnon"] + s["RssShmem"] for s in status)
        if total <= limit_kb:
            return total
        rollups = [proc_fields(pid, "smaps_rollup", ("Pss_Anon", "Pss_Shmem")) for pid in pids]
        return sum(r["Pss_Anon"] + r["Pss_Shmem"] for r in rollups)
