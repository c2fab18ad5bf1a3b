"""The sandbox's warm interpreter: started once per worker, it forks a fresh child for every program.

Standard library only; run as ``python -I _zygote.py CONFIG_JSON``, normally inside bubblewrap. It reads jobs from
stdin (``{"jobs": [...]}``, a few at a time) and writes one result per job to stdout, each message a 4-byte
big-endian length followed by JSON. For each job it forks; the
child starts its own session (a new process group), drops to the worker's unprivileged uid when one is given,
applies the resource limits, enters a fresh working directory with a clean environment, and then runs the Python
program in-process (the interpreter and ``warm_imports`` are already loaded) or execs the job's ``argv`` (other
languages). The zygote enforces the wall-clock limit, caps the output, kills every process the program left
behind and empties the work directory before it answers. It never runs untrusted code itself.
"""

import contextlib
import ctypes
import errno
import gc
import importlib.util
import io
import json
import os
import re
import resource
import select
import shutil
import signal
import struct
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
CLONE_NEWNET = 0x40000000
CHILD_SETUP_FAILED = 121


def read_message(fd, deadline=None):
    """One length-prefixed JSON message, or None at end of file (or at ``deadline``, a time.monotonic())."""
    header = _read_exact(fd, 4, deadline)
    if header is None:
        return None
    body = _read_exact(fd, struct.unpack(">I", header)[0], deadline)
    return None if body is None else json.loads(body)


def write_message(fd, obj):
    body = json.dumps(obj).encode()
    data = struct.pack(">I", len(body)) + body
    while data:
        data = data[os.write(fd, data):]


def _read_exact(fd, n, deadline=None):
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
        chunk = os.read(fd, n - got)
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


try:
    _LIBC = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - no libc to call
    _LIBC = None


def _prctl(option, value):
    with contextlib.suppress(OSError, AttributeError):
        _LIBC.prctl(option, value, 0, 0, 0)


class Zygote:
    def __init__(self, config, host_fd=None):
        self.config = config
        self.host_fd = host_fd  # our request pipe: it hangs up when curate dies, even mid-job
        self.orphaned = False
        self.limits = config["limits"]
        self.uid = config.get("uid")
        self.gid = config.get("gid", self.uid)
        self.workroot = config["workroot"]
        self.jobs = 0
        # A pid namespace of our own (bubblewrap: its reaper is pid 1, we are pid 2) makes kill(-1) safe.
        self.pidns = bool(config.get("pidns")) and os.getpid() == 2
        self.nproc = self.limits["max_processes"] + (0 if self.uid is not None else self._tasks_of_own_uid())
        _prctl(PR_SET_CHILD_SUBREAPER, 1)  # orphans of a program are re-parented to us, so we can kill them
        spec = importlib.util.spec_from_file_location("_curate_sandbox_harness", config["harness"])
        self.harness = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.harness)
        self.imported, self.failed = [], set()
        self.results_fd = None
        for name in config.get("warm_imports", []):
            try:
                __import__(name)
                self.imported.append(name)
            except Exception:  # noqa: BLE001 - a missing optional module only costs warmth
                pass
        gc.freeze()  # the warm objects stay out of the children's collections: fewer copy-on-write page faults

    @staticmethod
    def _tasks_of_own_uid():
        uid, count = os.getuid(), 0
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.stat(f"/proc/{entry}").st_uid == uid:
                        count += len(os.listdir(f"/proc/{entry}/task"))
                except OSError:
                    continue
        return count

    def warm_for(self, job):
        """Import, once, the allow-listed heavy modules (pytest, numpy) this job's code or tests import, so the
        next programs that use them fork warm. Only names from the host's ``warm_on_demand`` list are imported."""
        for name in self.config.get("warm_on_demand", []):
            if name in sys.modules or name in self.failed:
                continue
            pattern = re.compile(rf"^\s*(?:import|from)\s+{re.escape(name)}\b", re.M)
            if any(pattern.search(text or "") for text in [job.get("code"), job.get("setup"), *job.get("tests", [])]):
                try:
                    __import__(name)
                    self.imported.append(name)
                    gc.freeze()
                except Exception:  # noqa: BLE001
                    self.failed.add(name)

    # ---- one job -------------------------------------------------------------------------------------------
    def run(self, job):
        self.jobs += 1
        if not job.get("argv"):
            self.warm_for(job)
        workdir = os.path.join(self.workroot, f"job{self.jobs}")
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        results = self._fresh_results()
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the child never returns from here
            try:
                self._child(job, workdir, out_w, err_w, results)
            except BaseException as exc:  # noqa: BLE001
                try:
                    os.write(2, f"sandbox: could not start the program: {exc!r}\n".encode())
                finally:
                    os._exit(CHILD_SETUP_FAILED)
            os._exit(0)
        os.close(out_w)
        os.close(err_w)
        collected = self._collect(pid, start, {out_r: "stdout", err_r: "stderr"})
        collected["strays"] = self._kill_strays(pid)
        self._drain(collected)
        size = os.fstat(results).st_size
        collected["results"] = os.pread(results, min(size, self.limits["results_limit_bytes"]), 0).decode(
            "utf-8", "replace")
        if size > self.limits["results_limit_bytes"] and not collected["killed"]:
            collected["killed"] = "results"
        self._scrub()
        collected["id"] = job.get("id")
        return collected

    def _fresh_results(self):
        """The file the program's harness reports to (fd 3). A memory file, not a pipe: writing events never wakes
        us, so a job costs one wake-up (its exit) unless it prints. Its size is capped by RLIMIT_FSIZE."""
        if self.results_fd is None:
            try:
                self.results_fd = os.memfd_create("curate-sandbox-results", os.MFD_CLOEXEC)
            except (AttributeError, OSError):
                import tempfile

                self._results_file = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as we do
                self.results_fd = self._results_file.fileno()
        os.ftruncate(self.results_fd, 0)
        os.lseek(self.results_fd, 0, os.SEEK_SET)
        return self.results_fd

    def _child(self, job, workdir, out_w, err_w, results):
        os.setsid()
        os.dup2(out_w, 1)  # fd 0 is already /dev/null (see main)
        os.dup2(err_w, 2)
        os.dup2(results, 3)
        os.closerange(4, 1 << 16)
        if self.uid is not None:
            os.setgroups([])
            os.setresgid(self.gid, self.gid, self.gid)
            os.setresuid(self.uid, self.uid, self.uid)
        if not self.pidns:  # in bubblewrap the whole pid namespace dies with us; elsewhere, die with us
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after setuid, which clears it
        os.mkdir(workdir, 0o700)
        os.chdir(workdir)
        for name in ("HOME", "TMPDIR", "PWD"):  # the rest of the environment is already the program's (main)
            os.environ[name] = workdir
        env = dict(os.environ)
        for name, content in (job.get("files") or {}).items():
            with open(name, "w", encoding="utf-8", errors="surrogatepass") as handle:
                handle.write(content)
        self._limit(job)
        if job.get("argv"):
            for sig in (signal.SIGPIPE, signal.SIGINT):  # Python's own dispositions, not the command's
                signal.signal(sig, signal.SIG_DFL)
            os.execve(job["argv"][0], job["argv"], env)
        sys.argv = ["solution.py"]
        sys.path[:0] = [workdir]
        self.harness.run(job, 3)  # sys.stdin/stdout/stderr are the unbuffered streams main() made on fds 0-2
        os._exit(0)  # no atexit handlers, no waiting for the program's threads

    def _limit(self, job):
        lim = self.limits
        memory = lim["memory_bytes"]
        memory_kind = resource.RLIMIT_DATA if job.get("memory_rlimit") == "DATA" else resource.RLIMIT_AS
        resource.setrlimit(memory_kind, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (lim["cpu_seconds"], lim["cpu_seconds"] + 1))
        resource.setrlimit(resource.RLIMIT_NPROC, (self.nproc, self.nproc))
        resource.setrlimit(resource.RLIMIT_FSIZE, (lim["max_file_bytes"], lim["max_file_bytes"]))
        resource.setrlimit(resource.RLIMIT_NOFILE, (lim["max_open_files"], lim["max_open_files"]))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    # ---- watching a running program ------------------------------------------------------------------------
    def _collect(self, pid, start, fds):
        lim = self.limits
        got = {"stdout": bytearray(), "stderr": bytearray()}
        sizes = {"stdout": 0, "stderr": 0}
        deadline = start + lim["timeout"]
        poller = select.poll()
        for fd in fds:
            os.set_blocking(fd, False)
            poller.register(fd, select.POLLIN)
        exit_fd = _pidfd(pid)
        if exit_fd is not None:
            poller.register(exit_fd, select.POLLIN)
        if self.host_fd is not None:
            poller.register(self.host_fd, 0)  # POLLHUP/POLLERR only: curate never writes while a job runs
        killed, status, ended = None, None, None
        while status is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                killed = "timeout"
                break
            events = poller.poll(min(remaining, 0.05 if exit_fd is None else remaining) * 1000)
            for fd, _ in events:
                if fd == exit_fd:
                    continue
                if fd == self.host_fd:
                    killed, self.orphaned = "host", True
                    break
                name = fds[fd]
                try:
                    data = os.read(fd, 1 << 16)
                except BlockingIOError:
                    continue
                if not data:
                    poller.unregister(fd)
                    continue
                sizes[name] += len(data)
                keep = lim["max_output_bytes"]
                if len(got[name]) < keep:
                    got[name] += data[: keep - len(got[name])]
            if self.orphaned:
                break
            if sizes["stdout"] + sizes["stderr"] > lim["output_limit_bytes"]:
                killed = "output"
                break
            done_pid, status_code = os.waitpid(pid, os.WNOHANG)
            if done_pid:
                status, ended = status_code, time.monotonic()
        if status is None:
            _killpg(pid)
            _, status = os.waitpid(pid, 0)
            ended = time.monotonic()
        if exit_fd is not None:
            os.close(exit_fd)
        return {"fds": fds, "poller": poller, "got": got, "sizes": sizes, "killed": killed,
                "exit_code": os.waitstatus_to_exitcode(status), "seconds": round(ended - start, 6)}

    def _drain(self, collected):
        """Read what the (now dead) program left in its pipes, then close them."""
        fds, got, sizes = collected.pop("fds"), collected["got"], collected["sizes"]
        collected.pop("poller")
        lim = self.limits
        for fd, name in fds.items():
            keep = lim["max_output_bytes"]
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                try:
                    data = os.read(fd, 1 << 16)
                except BlockingIOError:
                    if _alive_writers_gone(fd):
                        break
                    time.sleep(0.001)
                    continue
                if not data:
                    break
                sizes[name] += len(data)
                if len(got[name]) < keep:
                    got[name] += data[: keep - len(got[name])]
            os.close(fd)
        collected["stdout"] = got["stdout"].decode("utf-8", "replace")
        collected["stderr"] = got["stderr"].decode("utf-8", "replace")
        collected["stdout_bytes"], collected["stderr_bytes"] = sizes["stdout"], sizes["stderr"]
        del collected["got"], collected["sizes"]

    # ---- leaving nothing behind ----------------------------------------------------------------------------
    def _kill_strays(self, pid):
        """Kill every process the program left behind; return how many there were. All of them are our
        descendants (we are a child subreaper), so "no child left" means "no process left"."""
        strays = 0
        for _ in range(2000):
            live = _reap_children()
            if not live:
                return strays
            strays = max(strays, live)
            if self.pidns:
                _kill_all_in_namespace()
            elif self.uid is not None:
                self._kill_uid()
            else:
                for child in _children_of(os.getpid()):
                    _killpg(child)
                    _kill(child)
            time.sleep(0.001)
        return strays

    def _kill_uid(self):
        """kill(-1) as the worker's uid: every process of that uid (only this worker's program has it)."""
        pid = os.fork()
        if pid == 0:
            try:
                os.setresgid(self.gid, self.gid, self.gid)
                os.setresuid(self.uid, self.uid, self.uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)

    def _scrub(self):
        for root, owner, keep in self.config.get("scrub", []):
            try:
                entries = os.listdir(root)
            except OSError:
                continue
            for entry in entries:
                if entry in keep:
                    continue
                path = os.path.join(root, entry)
                try:
                    if owner is not None and os.lstat(path).st_uid != owner:
                        continue
                    if os.path.isdir(path) and not os.path.islink(path):
                        _remove_tree(path)
                    else:
                        os.unlink(path)
                except OSError:
                    continue


def _remove_tree(path):
    try:
        shutil.rmtree(path)
    except OSError:  # a program may leave directories without write or search permission: restore them, retry
        for root, dirs, _ in os.walk(path):
            for name in dirs:
                with contextlib.suppress(OSError):
                    os.chmod(os.path.join(root, name), 0o700, follow_symlinks=False)
        with contextlib.suppress(OSError):
            os.chmod(path, 0o700)
        shutil.rmtree(path, ignore_errors=True)


def _stream(fd):
    """An unbuffered text stream on ``fd``: what a program printed is kept even when it is killed."""
    return io.TextIOWrapper(io.FileIO(fd, "w", closefd=False), encoding="utf-8", errors="backslashreplace",
                            line_buffering=True, write_through=True)


def _pidfd(pid):
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _kill(pid):
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)


def _killpg(pid):
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)


def _kill_all_in_namespace():
    try:
        os.kill(-1, signal.SIGKILL)  # only called as pid 2 of our own pid namespace: spares pid 1 and us
    except OSError as exc:
        if exc.errno != errno.ESRCH:
            raise


def _reap_children():
    """Reap exited children; return how many are still alive (0 when none are left)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return 0
        if pid == 0:
            return max(1, len(_children_of(os.getpid())))


def _children_of(parent):
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            children.append(int(entry))
    return children


def _alive_writers_gone(fd):
    readable, _, _ = select.select([fd], [], [], 0.01)
    return not readable


def main():
    config = json.loads(sys.argv[1])
    proto_in, proto_out = os.dup(0), os.dup(1)
    os.set_inheritable(proto_in, False)
    os.set_inheritable(proto_out, False)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)  # programs inherit it as their stdin
    os.environ.clear()  # programs inherit this environment (plus HOME, TMPDIR, PWD): no secrets
    os.environ.update(config.get("env", {}))
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    sys.stdout, sys.stderr = _stream(1), _stream(2)  # made once, inherited by every program
    os.dup2(2, 1)
    if config.get("unshare_net") and _LIBC.unshare(CLONE_NEWNET) != 0:  # rlimit mode as root: no network
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET) failed")
    zygote = Zygote(config, proto_in)
    write_message(proto_out, {"ready": True, "pid": os.getpid(), "pidns": zygote.pidns, "uid": os.getuid(),
                              "python": sys.version.split()[0], "warm_imports": zygote.imported})
    try:
        while True:
            request = read_message(proto_in)
            if request is None:
                return
            for job in request["jobs"]:  # one answer per job, as soon as it is known
                result = zygote.run(job)
                if zygote.orphaned:
                    return
                write_message(proto_out, result)
    finally:
        if config.get("own_workroot"):  # a host directory (rlimit mode): nobody else removes it if curate died
            shutil.rmtree(config["workroot"], ignore_errors=True)


if __name__ == "__main__":
    main()
