"""minhash_dedup: estimates agree with datasketch, recall/precision against brute-force exact Jaccard on real
code with planted near-duplicates, incremental A-then-B equals A+B, repository level, the shipped pipeline."""

from __future__ import annotations

import math
import random
import re
import shutil
from pathlib import Path

import numpy as np
import orjson
import pytest
import yaml
import zstandard
from datasketch import MinHash

from curate.plugin import RunContext, StageContext
from curate.testing import make_doc, read_corpus, read_excluded, run_cli, run_pipeline_dict
from curate_plugins._minhash.hashing import Signer, shingle_set
from curate_plugins._minhash.near_duplicates import near_duplicate
from curate_plugins._minhash.verify import Z
from curate_plugins.minhash_dedup import MinhashDedup

SOURCE_SUFFIXES = {".py", ".go", ".js", ".rs", ".c", ".h", ".java", ".cpp", ".hpp", ".ts"}
# Our own ground truth, independent of the plugin's hashing: runs of identifier characters (ASCII letters,
# digits, underscore, any non-ASCII character), 5-grams of them as tuples, Jaccard on Python sets.
TRUTH_TOKEN = re.compile(r"[A-Za-z0-9_\u0080-\U0010ffff]+")


def truth_shingles(text: str, n: int = 5) -> frozenset:
    words = TRUTH_TOKEN.findall(text)
    if len(words) < n:
        return frozenset([tuple(words)]) if words else frozenset()
    return frozenset(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


class _Sink:
    def __init__(self):
        self.docs = []

    def write(self, doc, rank):
        self.docs.append(doc)

    def close(self, rank, commit=True):
        pass


def run_stage(stage: MinhashDedup, shards: list[list], root: Path, run_id: str = "run-0001",
              previous: tuple = ()) -> tuple[list, list]:
    """Plan the stage as the planner does (map per shard, barrier jobs task by task, reduce per shard), in
    this process, with only files between the parts, then commit the index snapshot the run staged, as the
    runner does when it publishes a run. Returns (kept, dropped) documents."""
    ctx = StageContext(step_id="minhash_dedup", run_id=run_id, run_seq=1, tasks=len(shards),
                       work_dir=str(root / "work" / run_id), index_dir=str(root / "index"),
                       previous_runs=list(previous), run_context=RunContext())
    for rank, docs in enumerate(shards):
        stream = iter(docs)
        for step in stage.map_steps(ctx):
            stream = step.run(stream, rank, len(shards))
        assert len(list(stream)) == len(docs)
    for job in stage.barrier_jobs(ctx):
        for task in range(job.tasks):
            for step in job.steps:
                list(step.run(None, task, job.tasks) or ())
    kept, sink = [], _Sink()
    for rank, docs in enumerate(shards):
        (step,) = stage.reduce_steps(ctx)
        step.excluded = sink
        kept += list(step.run(iter(docs), rank, len(shards)))
    ctx.index_store().commit(run_id)
    return kept, sink.docs


# ---- signatures ------------------------------------------------------------------------------------------

def _real_files(default_input: Path, limit: int) -> list[dict]:
    records = []
    for shard in sorted(default_input.glob("*.jsonl.zst")):
        raw = zstandard.ZstdDecompressor().stream_reader(shard.read_bytes()).read()
        records += [orjson.loads(line) for line in raw.splitlines()]
    return [r for r in records if Path(r["path"]).suffix in SOURCE_SUFFIXES and 800 < len(r["text"]) < 40000][:limit]


def test_jaccard_estimates_agree_with_datasketch(default_input):
    """Same shingle sets, same num_perm: rensa's and datasketch's estimates are both unbiased and close."""
    rng = random.Random(7)
    files = _real_files(default_input, 60)
    pairs = [(f["text"], near_duplicate(f["text"], rng)[0]) for f in files[:40]]
    pairs += [(a["text"], b["text"]) for a, b in zip(files[:20], files[20:40])]  # unrelated files
    ours, theirs, truth = [], [], []
    for a, b in pairs:
        sa, sb = shingle_set(a, 5), shingle_set(b, 5)
        sig = Signer(256, 1).signatures([sa, sb])
        ours.append(float(np.mean(sig[0] == sig[1])))
        ms = []
        for s in (sa, sb):
            m = MinHash(num_perm=256, seed=1)
            m.update_batch([int(x).to_bytes(8, "little") for x in s])
            ms.append(m)
        theirs.append(ms[0].jaccard(ms[1]))
        truth.append(len(np.intersect1d(sa, sb)) / len(np.union1d(sa, sb)))
    ours, theirs, truth = map(np.asarray, (ours, theirs, truth))
    assert truth.min() < 0.2 and truth.max() > 0.9  # the pairs span the range
    sigma = np.sqrt(np.maximum(truth * (1 - truth), 0.01) / 256)
    assert np.all(np.abs(ours - truth) < 5 * sigma)
    assert np.all(np.abs(theirs - truth) < 5 * sigma)
    assert abs(float(np.mean(ours - truth))) < 0.01 and abs(float(np.mean(theirs - truth))) < 0.01
    assert np.all(np.abs(ours - theirs) < 7 * sigma)


@pytest.mark.parametrize("threshold,num_perm", [(0.7, 256), (0.8, 128), (0.5, 64)])
def test_derived_bands(threshold, num_perm):
    """Without verification: datasketch's balanced layout. With it: recall first, a pair at the threshold is
    missed with probability <= 1%, and no layout that also reaches 1% has less false-positive mass."""
    from datasketch.lsh import _optimal_param

    from curate_plugins._minhash.hashing import miss_probability

    unverified = MinhashDedup({"threshold": threshold, "num_perm": num_perm, "verify": False}).band_layout()
    bands, rows = MinhashDedup({"threshold": threshold, "num_perm": num_perm}).band_layout()
    assert unverified == _optimal_param(threshold, num_perm, 0.5, 0.5)
    assert bands * rows <= num_perm and miss_probability(threshold, bands, rows) <= 0.01
    assert miss_probability(threshold, *unverified) > 0.03  # BigCode's layout misses more at the threshold
    if (threshold, num_perm) == (0.7, 256):
        assert (unverified, (bands, rows)) == ((25, 10), (37, 6))


def test_bands_and_rows_must_fit_and_come_together():
    with pytest.raises(ValueError, match="exceeds num_perm"):
        MinhashDedup({"bands": 30, "rows": 10})
    with pytest.raises(ValueError, match="both"):
        MinhashDedup({"bands": 20})


# ---- quality on real code with planted near-duplicates --------------------------------------------------

@pytest.fixture(scope="module")
def planted(checkouts):
    """Every source file of the seven real repositories, plus 240 planted near-duplicates (some of them
    edited twice), in two shards."""
    originals = []
    for name, root in sorted(checkouts.items()):
        for path in sorted(p for p in root.rglob("*") if p.is_file() and ".git" not in p.parts):
            if path.suffix in SOURCE_SUFFIXES and 500 < path.stat().st_size < 60000:
                text = path.read_text("utf-8", "replace")
                originals.append(make_doc(text, f"{name}:{path.relative_to(root)}"))
    rng = random.Random(2026)
    copies = []
    for i, source in enumerate(rng.sample(originals, 240)):
        text, edits = near_duplicate(source.text, rng)
        if i % 5 == 0:
            text, more = near_duplicate(text, rng)
            edits += more
        copies.append(make_doc(text, f"copy{i}:{source.id}", edits=edits))
    docs = originals + copies
    return [docs[0::2], docs[1::2]]


@pytest.fixture(scope="module")
def truth_pairs(planted):
    """Exact Jaccard of every pair of documents with J >= 0.5, by brute force: the intersection sizes of all
    pairs at once as a sparse document × shingle product."""
    from scipy.sparse import csr_matrix

    docs = [d for shard in planted for d in shard]
    vocabulary: dict = {}
    rows, cols = [], []
    for i, doc in enumerate(docs):
        for shingle in truth_shingles(doc.text):
            rows.append(i)
            cols.append(vocabulary.setdefault(shingle, len(vocabulary)))
    matrix = csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, cols)), shape=(len(docs), len(vocabulary)))
    sizes = np.asarray(matrix.sum(axis=1)).ravel()
    inter = (matrix @ matrix.T).tocoo()
    out = {}
    for i, j, common in zip(inter.row.tolist(), inter.col.tolist(), inter.data.tolist()):
        if i < j:
            similarity = common / (sizes[i] + sizes[j] - common)
            if similarity >= 0.5:
                out[(docs[i].id, docs[j].id)] = float(similarity)
    return out


def _truth(truth_pairs, a, b):
    return truth_pairs.get((a, b), truth_pairs.get((b, a), 0.0))


def _measure(kept, dropped, truth_pairs, threshold):
    """Recall: pairs with true J >= threshold + 0.1 that end in one cluster (same keeper).
    Precision: the duplicate pairs found (each dropped document and the one it matched) whose true J >=
    threshold. Also the share of dropped documents whose keeper itself is within the threshold."""
    group = {d.id: d.metadata["dedup.kept_id"] for d in dropped}
    high = [p for p, j in truth_pairs.items() if j >= threshold + 0.1]
    found = [p for p in high if group.get(p[0], p[0]) == group.get(p[1], p[1])]
    pairs = [_truth(truth_pairs, d.id, d.metadata["dedup.match_id"]) >= threshold for d in dropped]
    keepers = [_truth(truth_pairs, d.id, d.metadata["dedup.kept_id"]) >= threshold for d in dropped]
    return len(found) / len(high), float(np.mean(pairs)), len(high), float(np.mean(keepers))


def test_recall_and_precision_against_brute_force_jaccard(planted, truth_pairs, tmp_path):
    stage = MinhashDedup({"threshold": 0.7, "keep": "first", "verify": True})
    kept, dropped = run_stage(stage, planted, tmp_path)
    assert len(kept) + len(dropped) == sum(map(len, planted))
    assert {d.metadata["drop.reason"] for d in dropped} == {"near_duplicate"}
    recall, precision, n_high, keeper_share = _measure(kept, dropped, truth_pairs, 0.7)
    print(f"verified: {n_high} pairs with J >= 0.8; recall {recall:.3f}; pair precision {precision:.3f}; "
          f"{len(dropped)} dropped; keeper within threshold for {keeper_share:.3f}")
    assert n_high >= 100
    assert recall >= 0.95
    assert precision >= 0.98
    tolerance = Z * math.sqrt(0.7 * 0.3 / 512)  # estimated similarities (documents of >= 512 shingles)
    for doc in dropped:
        assert isinstance(doc.metadata["dedup.cluster"], int) and doc.metadata["dedup.kept_id"] != doc.id
        assert doc.metadata["dedup.jaccard"] >= 0.7 - tolerance


def test_without_verification_recall_holds(planted, truth_pairs, tmp_path):
    kept, dropped = run_stage(MinhashDedup({"keep": "first", "verify": False}), planted, tmp_path)
    recall, precision, _, _ = _measure(kept, dropped, truth_pairs, 0.7)
    print(f"unverified: recall {recall:.3f}; pair precision {precision:.3f}; {len(dropped)} dropped")
    assert recall >= 0.95 and precision >= 0.85  # unverified LSH false positives: 0.88-0.91 over seeds 1-4, 42


def test_keeper_is_deterministic_and_follows_stars(tmp_path):
    base = "\n".join(f"def handler_{i}(request, value):\n    return compute(value, {i}) + request.size"
                     for i in range(40))
    rng = random.Random(1)
    twin = near_duplicate(base, rng, ["comments", "whitespace"])[0]
    docs = [make_doc(base, "a/x.py", stars=3, license="GPL-3.0"), make_doc(twin, "b/x.py", stars=90),
            make_doc(twin + "\n# tail", "c/x.py", stars=90, license="MIT")]
    kept, dropped = run_stage(MinhashDedup({}), [docs[:1], docs[1:]], tmp_path / "one")
    assert [d.id for d in kept] == ["c/x.py"]  # most stars, then permissive licence
    assert {d.id: d.metadata["dedup.kept_id"] for d in dropped} == {"a/x.py": "c/x.py", "b/x.py": "c/x.py"}
    again, _ = run_stage(MinhashDedup({}), [docs], tmp_path / "two")  # one shard instead of two
    assert [d.id for d in again] == ["c/x.py"]


def test_documents_without_tokens_are_never_matched(tmp_path):
    docs = [make_doc("{}\n", "a"), make_doc("{}\n", "b"), make_doc("", "c")]
    kept, dropped = run_stage(MinhashDedup({"keep": "first"}), [docs], tmp_path)
    assert len(kept) == 3 and not dropped


def _blocks(rng: random.Random, count: int) -> list[str]:
    words = [f"name{i}" for i in range(5000)]
    return [" ".join(rng.choices(words, k=40)) for _ in range(count)]


def test_a_later_batch_merging_two_clusters_is_remembered(tmp_path):
    """x1 and x2 are not near-duplicates (J 0.67) but both are of `bridge` (J 0.82). Batch 2 brings the
    bridge, which merges their clusters in the index; batch 3's copy of x2 then names x1 as keeper, exactly as
    one run over all three batches does."""
    blocks = _blocks(random.Random(11), 12)
    bridge = "\n".join(blocks[:10])
    x1 = "\n".join([blocks[10]] + blocks[1:10])
    x2 = "\n".join(blocks[:9] + [blocks[11]])
    batches = [[make_doc(x1, "x1"), make_doc(x2, "x2")], [make_doc(bridge, "bridge")],
               [make_doc(x2 + "\n# copied", "y")]]
    stage = MinhashDedup({"keep": "first"})
    outcomes, previous = [], []
    for i, batch in enumerate(batches):
        run_id = f"run-{i + 1:04d}"
        outcomes.append(run_stage(stage, [batch], tmp_path / "inc", run_id, tuple(previous)))
        previous.append(run_id)
    assert [[d.id for d in kept] for kept, _ in outcomes] == [["x1", "x2"], [], []]
    incremental = {d.id: (d.metadata["dedup.kept_id"], d.metadata["dedup.cluster"], d.metadata["dedup.match_id"])
                   for _, dropped in outcomes for d in dropped}
    assert incremental == {"bridge": ("x1", 0, "x1"), "y": ("x1", 0, "x2")}
    kept, dropped = run_stage(stage, batches, tmp_path / "one")
    assert [d.id for d in kept] == ["x1", "x2"]
    assert {d.id: (d.metadata["dedup.kept_id"], d.metadata["dedup.cluster"], d.metadata["dedup.match_id"])
            for d in dropped} == incremental


# ---- incremental, through the real runner ----------------------------------------------------------------

def _write_shard(path: Path, docs) -> None:
    path.write_bytes(b"".join(orjson.dumps({"id": d.id, "text": d.text}) + b"\n" for d in docs))


def _pipeline(paths: list[str], out: Path, **with_) -> dict:
    return {"name": "near", "inputs": [{"source": "jsonl", "with": {"paths": paths}}],
            "output": {"dir": str(out)}, "steps": [{"uses": "minhash_dedup", "with": with_}]}


def _outcome(out: Path) -> tuple[list, dict]:
    kept = sorted(r["id"] for r in read_corpus(out))
    dropped = {r["id"]: (r["metadata"]["drop.reason"], r["metadata"]["dedup.kept_id"], r["metadata"]["dedup.cluster"])
               for r in read_excluded(out)}
    return kept, dropped


def test_incremental_a_then_b_equals_a_plus_b(planted, tmp_path):
    docs = [d for shard in planted for d in shard][::3]  # originals and copies, mixed
    rng = random.Random(5)
    later = [make_doc(near_duplicate(d.text, rng)[0], f"late:{d.id}") for d in docs[:: 7]]
    folder = tmp_path / "in"
    folder.mkdir()
    shards = {"a-0.jsonl": docs[0::3], "a-1.jsonl": docs[1::3], "b-0.jsonl": docs[2::3] + later[:10],
              "b-1.jsonl": later[10:]}
    with_ = {"keep": "first", "verify": True}
    for name in ("a-0.jsonl", "a-1.jsonl"):
        _write_shard(folder / name, shards[name])
    incremental = _pipeline([str(folder / "*.jsonl")], tmp_path / "two", **with_)
    assert run_pipeline_dict(incremental, workers=1).run_id == "run-0001"
    for name in ("b-0.jsonl", "b-1.jsonl"):
        _write_shard(folder / name, shards[name])
    second = run_pipeline_dict(incremental, workers=2)
    assert second.run_id == "run-0002"
    assert second.summary["docs_in"] == len(shards["b-0.jsonl"]) + len(shards["b-1.jsonl"])  # only B is read
    run_pipeline_dict(_pipeline([str(folder / "*.jsonl")], tmp_path / "one", **with_), workers=1)
    two, one = _outcome(tmp_path / "two"), _outcome(tmp_path / "one")
    assert len(one[1]) > 20 and any(k.startswith("late:") for k in one[1])  # B really matched A
    assert two == one  # same kept set, same drops, same keepers and cluster ids


# ---- repository level ------------------------------------------------------------------------------------

def _forked_repo(default_input: Path, name: str, fork: str, rng: random.Random) -> list[dict]:
    raw = zstandard.ZstdDecompressor().stream_reader((default_input / f"{name}.jsonl.zst").read_bytes()).read()
    records = [orjson.loads(line) for line in raw.splitlines()]
    out = []
    for rec in records:
        text = near_duplicate(rec["text"], rng, ["comments", "whitespace"])[0] if rng.random() < 0.5 else rec["text"]
        out.append({**rec, "id": rec["id"].replace(rec["repo"], fork), "repo": fork, "text": text})
    return out


def test_repo_level_drops_a_forked_repository_whole(default_input, tmp_path):
    fork = _forked_repo(default_input, "pallets__itsdangerous", "zz-fork/itsdangerous", random.Random(3))
    shards = []
    for name in ("pallets__itsdangerous", "spf13__pflag"):
        raw = zstandard.ZstdDecompressor().stream_reader((default_input / f"{name}.jsonl.zst").read_bytes()).read()
        shards.append([make_doc(r["text"], r["id"], repo=r["repo"], license=r["license"])
                       for r in map(orjson.loads, raw.splitlines())])
    shards.append([make_doc(r["text"], r["id"], repo=r["repo"], license=r["license"]) for r in fork])
    kept, dropped = run_stage(MinhashDedup({"level": "repo"}), shards, tmp_path)
    assert {d.metadata["repo"] for d in dropped} == {"zz-fork/itsdangerous"}
    assert len(dropped) == len(fork)
    assert {d.metadata["dedup.kept_id"] for d in dropped} == {"pallets/itsdangerous"}
    assert {d.metadata["drop.reason"] for d in dropped} == {"near_duplicate_repo"}


def test_github_repo_level_pipeline_end_to_end(repo_root, default_input, tmp_path):
    fork = _forked_repo(default_input, "spf13__pflag", "zz-fork/pflag", random.Random(4))
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("spf13__pflag", "dtolnay__anyhow", "pallets__itsdangerous"):
        shutil.copy(default_input / f"{name}.jsonl.zst", folder / f"{name}.jsonl.zst")
    (folder / "zz_fork.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in fork))
    spec = yaml.safe_load((repo_root / "pipelines" / "github_repo_level.yaml").read_text())
    spec["inputs"][0]["with"]["paths"] = [str(folder / "*.jsonl.zst"), str(folder / "*.jsonl")]
    pipeline = tmp_path / "github_repo_level.yaml"
    pipeline.write_text(yaml.safe_dump(spec))
    run_cli("validate", pipeline)
    run_cli("run", pipeline, "-o", tmp_path / "out", "--workers", "1", "--no-progress")
    kept = read_corpus(tmp_path / "out")
    assert kept and not any(r["metadata"]["repo"] == "zz-fork/pflag" for r in kept)
    near = [r for r in read_excluded(tmp_path / "out") if r["metadata"].get("drop.step") == "minhash_dedup"]
    assert len(near) == len(fork)
    assert {r["metadata"]["drop.reason"] for r in near} == {"near_duplicate_repo"}
    assert {r["metadata"]["dedup.kept_id"] for r in near} == {"spf13/pflag"}
    assert {r["metadata"]["repo"] for r in kept} == {"spf13/pflag", "dtolnay/anyhow", "pallets/itsdangerous"}
