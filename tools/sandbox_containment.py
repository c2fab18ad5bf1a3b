"""Print the sandbox's containment table: each hostile program, its outcome, and the machine's state after it.

For every isolation mode that works here (bubblewrap, and the rlimit floor), each program runs in one Sandbox;
after each, the script checks the host: processes left under the sandbox's uids, files left in /tmp, /var/tmp and
/dev/shm, the canary directory every program can see, and whether the sandbox still runs an ordinary program.
The tests in tests/plugins/lib/test_sandbox_containment.py assert the same facts.

    .venv/bin/python tools/sandbox_containment.py [--mode bwrap|rlimit|both] [--timeout 2]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path

from curate_plugins.lib.sandbox import ExecJob, Sandbox, SandboxLimits
from curate_plugins.lib.sandbox.isolation import UIDS_PER_PROCESS, probe_bwrap, worker_uid

MARK = "curate-hostile"


def hostile_programs(canary: Path, port: int) -> list[tuple[str, str]]:
    return [
        ("loops forever (ignores signals, catches everything)",
         "import signal\nfor s in (signal.SIGALRM, signal.SIGXCPU, signal.SIGTERM):\n"
         "    signal.signal(s, signal.SIG_IGN)\n"
         "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass\n"),
        ("sleeps forever", "import time\ntime.sleep(10 ** 6)\n"),
        ("allocates 10 GB", "block = bytearray(10 * 1024 ** 3)\n"),
        ("forks without bound (children sleep)",
         "import os, time\nn = 0\ntry:\n    while True:\n        if os.fork() == 0:\n            time.sleep(10 ** 6)\n"
         "        n += 1\nexcept OSError as exc:\n    print('forked', n, 'then', exc)\n"),
        ("fork bomb that never stops", "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n"
                                       "        pass\n"),
        ("opens a socket to a server on the host's loopback",
         f"import socket\nprint([n for _, n in socket.if_nameindex()])\n"
         f"socket.create_connection(('127.0.0.1', {port}), timeout=1)\nprint('connected to the host')\n"),
        ("writes outside its directory",
         f"for p in ('/etc/{MARK}', '{canary}/{MARK}', '/tmp/{MARK}', '/var/tmp/{MARK}', '/dev/shm/{MARK}'):\n"
         f"    try:\n        open(p, 'w').write('x')\n        print('wrote', p)\n"
         f"    except OSError as exc:\n        print(p, type(exc).__name__)\n"),
        ("deletes files", f"import shutil, subprocess\nshutil.rmtree('{canary}', ignore_errors=True)\n"
                          f"subprocess.run(['rm', '-rf', '{canary}'])\n"),
        ("floods stdout", "import os\nwhile True:\n    os.write(1, b'x' * (1 << 20))\n"),
        ("kills its parent (and pid 1, and everyone: kill -1)",
         "import os, signal\nfor pid in (os.getppid(), 1, -1):\n    try:\n        os.kill(pid, signal.SIGKILL)\n"
         "    except OSError as exc:\n        print(pid, type(exc).__name__)\n"),
        ("daemonizes (double fork, new session) and exits",
         "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(10 ** 6)\n"
         "    os._exit(0)\n"),
        ("reads the environment for secrets", "import os\nprint(sorted(os.environ))\n"),
    ]


def ours(uid: int) -> bool:
    first = worker_uid(os.getpid(), 0)
    return first <= uid < first + UIDS_PER_PROCESS


def uid_processes() -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                count += ours(os.stat(f"/proc/{entry}").st_uid)
            except OSError:
                continue
    return count


def stray_files(live: set[str]) -> list[str]:
    found = []
    for root in ("/tmp", "/var/tmp", "/dev/shm"):
        for entry in os.listdir(root):
            path = os.path.join(root, entry)
            try:
                owner = os.lstat(path).st_uid
            except OSError:
                continue
            if (MARK in entry or ours(owner)) and path not in live:
                found.append(path)
    return found


def digest(root: Path) -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())).hexdigest()


def run_mode(mode: str, timeout: float) -> None:
    canary = Path(tempfile.mkdtemp(prefix="curate-canary-", dir="/var/tmp"))
    canary.chmod(0o755)
    (canary / "precious.txt").write_text("keep me")
    before = digest(canary)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    os.environ["CURATE_DEMO_SECRET"] = "s3cret"
    box = Sandbox(SandboxLimits(isolation=mode, timeout=timeout, workers=2))
    iso = box.isolation
    print(f"\n### {mode}: {iso['tool'] or iso['fallback_reason']}; network {iso['network']}; user {iso['user']}\n")
    print("| hostile program | status | what the program saw / why | machine after: stray processes, stray files, "
          "canary intact, sandbox still works |")
    print("|---|---|---|---|")
    try:
        for name, code in hostile_programs(canary, server.getsockname()[1]):
            if "kill -1" in name and not (box.uid_mode or box.mode == "bwrap"):
                print(f"| {name} | not run | no pid namespace and no separate uid: it would kill your processes | |")
                continue
            result = box.run([ExecJob(id=name, code=code, tests=["assert True"])])[0]
            seen = (result.message or result.stdout.strip() or result.stderr.strip()).replace("\n", " ")
            seen = seen.replace("|", "/")[:150]
            ok = box.run([ExecJob(id="ok", code="x = 2", tests=["assert x + 1 == 3"])])[0].status == "pass"
            live = {w.workroot for w in box._pool.workers if w.workroot} if box._pool else set()
            state = (f"{uid_processes()} processes, {len(stray_files(live))} files, "
                     f"canary {'intact' if canary.exists() and digest(canary) == before else 'CHANGED'}, "
                     f"{'works' if ok else 'BROKEN'}")
            if name.startswith("reads the environment"):
                seen += " (secret not visible)" if "CURATE_DEMO_SECRET" not in result.stdout else " SECRET VISIBLE"
            print(f"| {name} | {result.status} | {seen} | {state} |")
    finally:
        box.close()
        server.close()
        shutil.rmtree(canary, ignore_errors=True)
        os.environ.pop("CURATE_DEMO_SECRET", None)
    print(f"\nafter close: {uid_processes()} sandbox processes, {len(stray_files(set()))} stray files")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["bwrap", "rlimit", "both"], default="both")
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args()
    for mode in (["bwrap", "rlimit"] if args.mode == "both" else [args.mode]):
        if mode == "bwrap" and probe_bwrap(sys.executable)[0] is None:
            print(f"\n### bwrap: not available here: {probe_bwrap(sys.executable)[1]}")
            continue
        run_mode(mode, args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
