"""Shared by the Ray and Slurm tests: a fault-injection plugin installed as a real third-party package, input
subsets, and the comparison of two corpus directories byte for byte."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import textwrap
import time
from pathlib import Path

import yaml

from curate.testing import read_corpus, read_excluded

REPO = Path(__file__).resolve().parents[2]
#: two of the seven embedded repositories: small, with exact duplicates and heuristic drops among them
SUBSET = ["dtolnay__anyhow", "pallets__itsdangerous"]


def subset_override() -> str:
    paths = [str(REPO / "examples" / "data" / "github" / f"{name}.jsonl.zst") for name in SUBSET]
    return "inputs[0].with.paths=" + json.dumps(paths)


#: one task per input shard (small shards would otherwise share one task): the cluster tests need several tasks
ONE_TASK_PER_SHARD = "output.max_file_mb=0.01"


def subset_args() -> list[str]:
    """``--set`` options: the input subset, one task per shard."""
    return ["--set", subset_override(), "--set", ONE_TASK_PER_SHARD]


FAULT_MODULE = '''
"""Test-only plugin: the first time task `rank` reaches its `after`-th document, it records its pid (the Ray worker
process or the Slurm task), its parent's pid and the GPUs it was given in `flag_dir`/victim.json and waits there to
be killed.
Once `flag_dir`/killed exists it lets every document through: it never changes the output."""
import json, os, time
from pathlib import Path

import yaml
from pydantic import Field
from curate import Filter, PluginParams


class PauseForKill(Filter):
    """Waits to be killed once (test fault injection); keeps every document."""

    class Params(PluginParams):
        flag_dir: str = Field(description="Where victim.json and the `killed` marker live.")
        rank: int = Field(0, description="Which task pauses.")
        after: int = Field(3, description="Pause at this document of that task.")

    def run(self, data, rank=0, world_size=1):
        self._rank, self._seen = rank, 0
        yield from super().run(data, rank, world_size)

    def filter(self, doc):
        self._seen += 1
        flags = Path(self.params.flag_dir)
        if self._rank == self.params.rank and self._seen == self.params.after and not (flags / "killed").exists():
            victim = {"pid": os.getpid(), "ppid": os.getppid(), "gpus": os.environ.get("CUDA_VISIBLE_DEVICES")}
            (flags / "victim.json").write_text(json.dumps(victim))
            time.sleep(300)
        return True
'''


def install_fault_plugin(root: Path) -> Path:
    """A package directory holding ``curate_test_faults`` and its dist-info (entry point ``pause_for_kill``);
    put it on PYTHONPATH and curate's registry finds it like any installed third-party plugin."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "curate_test_faults").mkdir(exist_ok=True)
    (root / "curate_test_faults" / "__init__.py").write_text(textwrap.dedent(FAULT_MODULE))
    info = root / "curate_test_faults-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: curate-test-faults\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[curate.plugins]\npause_for_kill = curate_test_faults:PauseForKill\n")
    return root


def run_local(yaml_name: str, out: Path):
    """The reference: the shipped pipeline on the input subset, local executor with 2 workers, in this process."""
    from curate.config import apply_override, load_yaml
    from curate.testing import run_pipeline_dict

    raw = load_yaml(REPO / "pipelines" / yaml_name)
    local = "executor={kind: local, workers: 2}"
    for assignment in (subset_override(), ONE_TASK_PER_SHARD, f"output.dir={out}", local):
        apply_override(raw, assignment)
    return run_pipeline_dict(raw, workers=2)


def fault_step_override(flag_dir: Path, yaml_name: str) -> list[str]:
    """Append the pausing step to the pipeline: it runs in the last segment, after every barrier."""
    index = len(yaml.safe_load((REPO / "pipelines" / yaml_name).read_text())["steps"])
    return ["--set", f"steps[{index}]={{uses: pause_for_kill, with: {{flag_dir: '{flag_dir}', rank: 0, after: 3}}}}"]


def wait_for_victim(flag_dir: Path, timeout: float = 240) -> dict:
    victim = flag_dir / "victim.json"
    deadline = time.monotonic() + timeout
    while not victim.exists():
        assert time.monotonic() < deadline, "the paused task never started"
        time.sleep(0.2)
    time.sleep(0.2)
    return json.loads(victim.read_text())


def kill_worker(flag_dir: Path) -> dict:
    """SIGKILL the Ray worker process running the paused task."""
    victim = wait_for_victim(flag_dir)
    (flag_dir / "killed").write_text("")
    os.kill(victim["pid"], signal.SIGKILL)
    return victim


def process_gone(pid: int, timeout: float = 30) -> bool:
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.2)
    return False


def file_digests(corpus: Path, area: str) -> dict[str, str]:
    """relative path -> sha256 of every committed file under data/ or excluded/."""
    root = corpus / area
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and ".tmp-" not in p.name}


def assert_same_corpus(reference: Path, other: Path) -> None:
    """Same output bytes, same kept ids (no duplicate, none lost), same drops with the same reasons."""
    ref_ids = [r["id"] for r in read_corpus(reference)]
    ids = [r["id"] for r in read_corpus(other)]
    assert ids == ref_ids
    assert len(set(ids)) == len(ids), "duplicated documents"
    drops = sorted((r["id"], r["metadata"]["drop.reason"]) for r in read_excluded(other))
    assert drops == sorted((r["id"], r["metadata"]["drop.reason"]) for r in read_excluded(reference))
    assert file_digests(other, "data") == file_digests(reference, "data")
    leftovers = [p for p in (other / "data").rglob("*") if ".tmp-" in p.name]
    assert not leftovers, f"partial files left behind: {leftovers}"
    summary = json.loads(next((other / "runs").glob("run-*/summary.json")).read_text())
    ref_summary = json.loads(next((reference / "runs").glob("run-*/summary.json")).read_text())
    assert (summary["docs_in"], summary["docs_out"]) == (ref_summary["docs_in"], ref_summary["docs_out"])
