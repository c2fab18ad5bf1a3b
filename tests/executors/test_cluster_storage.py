"""Storage goes through fsspec: a whole run (stages, manifest, stats, excluded records, the incremental rerun)
works on fsspec's in-memory filesystem, byte for byte like on local disk.

``memory://`` lives inside one process, so this runs the local executor with one worker (in-process); the Ray
tests use a ``file://`` URL for the corpus, which crosses process and node boundaries."""

from __future__ import annotations

import hashlib

import fsspec
import yaml
from _cluster_helpers import REPO, SUBSET

from curate.testing import read_corpus, run_pipeline_dict


def _pipeline(out: str) -> dict:
    raw = yaml.safe_load((REPO / "pipelines" / "github_files.yaml").read_text())
    raw["inputs"][0]["with"]["paths"] = [str(REPO / "examples" / "data" / "github" / f"{n}.jsonl.zst") for n in SUBSET]
    raw["output"]["dir"] = out
    raw["output"]["max_file_mb"] = 0.01  # one task per shard
    raw["executor"] = {"kind": "local", "workers": 1}
    return raw


def _digests(url: str) -> dict[str, str]:
    fs, root = fsspec.core.url_to_fs(url)
    out = {}
    for path in sorted(fs.find(root)):
        with fs.open(path, "rb") as handle:
            out[path[len(root):].lstrip("/")] = hashlib.sha256(handle.read()).hexdigest()
    return out


def test_a_run_on_fsspec_memory_matches_a_run_on_disk(tmp_path):
    disk = tmp_path / "disk"
    memory = "memory://curate-storage-test/corpus"
    first = run_pipeline_dict(_pipeline(str(disk)))
    second = run_pipeline_dict(_pipeline(memory))
    assert first.summary["docs_out"] == second.summary["docs_out"] > 0
    assert _digests(f"{memory}/data") == _digests(str(disk / "data"))
    assert _digests(f"{memory}/excluded") == _digests(str(disk / "excluded"))
    fs = fsspec.filesystem("memory")
    assert fs.exists("/curate-storage-test/corpus/state/manifest.jsonl")
    assert not fs.exists("/curate-storage-test/corpus/state/pending.json")
    assert [r["id"] for r in read_corpus(str(disk))] == [r["id"] for r in _read_memory(memory)]
    # the incremental rerun reads the manifest back from memory:// and finds nothing new
    assert run_pipeline_dict(_pipeline(memory)).status == "nothing-to-do"
    fs.rm("/curate-storage-test", recursive=True)


def _read_memory(url: str) -> list[dict]:
    from curate.io import iter_shard

    fs, root = fsspec.core.url_to_fs(f"{url}/data")
    return [rec for path in sorted(fs.find(root)) for rec in iter_shard(f"memory://{path}")]
