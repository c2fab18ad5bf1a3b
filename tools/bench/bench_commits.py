"""Benchmark: commits -> change-prediction samples, per core, against the `git log -p` floor.

    python tools/bench/bench_commits.py                 # all fixture repositories, 3 interleaved rounds
    python tools/bench/bench_commits.py --libraries     # + pygit2 / dulwich / git CLI patch extraction
    python tools/bench/bench_commits.py --recall        # + top-5 recall of the BM25 query variants

For each repository (bare clones of tests/data/repos/*.bundle, made once and not timed) it times, in one
process on one core: the floor, `git log -p --no-merges` read to the end; and ours, the `git_commits` source
plus the `commit_to_change_prediction` transform with default parameters (writing the output is not included).
Time is CPU time (user + system, this process and its git children), which waiting for a core on a busy
machine does not inflate; wall time is printed beside it. The rounds interleave floor and ours, and the best
round of each is kept; figures are still noisy on this shared machine. Ratio = our CPU / floor CPU
(target: within 3x overall, no repository above 4x).

Needs the `bench` extra (`pip install -e '.[bench]'`: pygit2, bm25s, and dulwich for --libraries).
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

# Timed runs take the production path: the test helpers' metadata declaration check is off.
os.environ.setdefault("CURATE_CHECK_METADATA", "0")

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "repos"


def clone_all(root: Path) -> dict[str, str]:
    out = {}
    for bundle in sorted(DATA.glob("*.bundle")):
        target = root / f"{bundle.stem}.git"
        subprocess.run(["git", "clone", "--bare", "--quiet", str(bundle), str(target)], check=True)
        out[bundle.stem] = str(target)
    return out


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (git): immune to waiting for a busy core."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def floor(git_dir: str) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of `git log -p --no-merges`, read to the end."""
    cpu, wall = cpu_seconds(), time.perf_counter()
    subprocess.run(["git", "--git-dir", git_dir, "log", "-p", "--no-merges"], stdout=subprocess.PIPE, check=True)
    return cpu_seconds() - cpu, time.perf_counter() - wall


def ours(git_dir: str, params: dict | None = None) -> tuple[float, int, Counter, list]:
    from curate import Reject
    from curate.testing import apply_step
    from curate_plugins.commit_to_change_prediction import CommitToChangePrediction
    from curate_plugins.git_commits import GitCommits

    cpu, wall = cpu_seconds(), time.perf_counter()
    source = GitCommits({"paths": [git_dir]})
    docs = [d for d in source.read_shard(git_dir) if not isinstance(d, Reject)]
    result = apply_step(CommitToChangePrediction(params or {}), docs)
    elapsed = (cpu_seconds() - cpu, time.perf_counter() - wall)
    return elapsed, len(docs), Counter(d.metadata["drop.reason"] for d in result.dropped), result.kept


def recall(kept: list) -> tuple[float, float, int]:
    """(share of commits with a changed file in the top 5, share of changed files found, commits measured)."""
    measured = [s.metadata for s in kept if s.metadata["change.retrieval_targets"]]
    if not measured:
        return 0.0, 0.0, 0
    any_hit = sum(1 for m in measured if m["change.retrieval_hits"]) / len(measured)
    files = sum(m["change.retrieval_hits"] for m in measured) / sum(min(m["change.retrieval_targets"], 5)
                                                                    for m in measured)
    return any_hit, files, len(measured)


def bench(repos: dict[str, str], rounds: int) -> None:
    print("CPU seconds (this process + its git children), best of the rounds; wall seconds in brackets")
    print(f"{'repository':24s} {'commits':>7s} {'floor cpu':>14s} {'ours cpu':>14s} {'floor c/s':>9s} "
          f"{'ours c/s':>9s} {'ratio':>6s}")
    totals = [0.0, 0.0, 0.0, 0.0, 0]
    reasons: Counter = Counter()
    for name, git_dir in repos.items():
        floors, mine = [], []
        for _ in range(rounds):
            floors.append(floor(git_dir))
            seconds, commits, dropped, _ = ours(git_dir)
            mine.append(seconds)
        reasons.update(dropped)
        (f, fw), (o, ow) = min(floors), min(mine)
        for i, value in enumerate((f, fw, o, ow, commits)):
            totals[i] += value
        print(f"{name:24s} {commits:7d} {f:6.2f} [{fw:5.2f}] {o:6.2f} [{ow:5.2f}] {commits / f:9.0f} "
              f"{commits / o:9.0f} {o / f:6.2f}")
    f, fw, o, ow, commits = totals
    print(f"{'all':24s} {commits:7d} {f:6.2f} [{fw:5.2f}] {o:6.2f} [{ow:5.2f}] {commits / f:9.0f} "
          f"{commits / o:9.0f} {o / f:6.2f}")
    print("transform skips over all repositories:", dict(reasons.most_common()))


def recall_table(repos: dict[str, str]) -> None:
    print("\ntop-5 retrieval of the truly changed (pre-existing) files")
    for query in (["message"], ["paths"], ["message", "paths"]):
        kept = []
        for git_dir in repos.values():
            kept += ours(git_dir, {"query": query})[3]
        hit, files, n = recall(kept)
        print(f"  query={'+'.join(query):14s} commits={n:5d}  any changed file in top 5: {hit:.1%}  "
              f"changed files found: {files:.1%}")


def libraries(repos: dict[str, str], names: list[str]) -> None:
    """Every non-merge commit's patch against its parent, three ways."""
    import pygit2
    from dulwich.patch import write_tree_diff
    from dulwich.repo import Repo

    def with_pygit2(git_dir):
        repo = pygit2.Repository(git_dir)
        for commit in repo.walk(repo.head.target, pygit2.enums.SortMode.TOPOLOGICAL):
            if len(commit.parents) == 1:
                diff = repo.diff(commit.parents[0], commit, context_lines=3)
                diff.find_similar()
                _ = diff.patch

    def with_dulwich(git_dir):
        repo = Repo(git_dir)
        for entry in repo.get_walker():
            commit = entry.commit
            if len(commit.parents) == 1:
                write_tree_diff(io.BytesIO(), repo.object_store, repo[commit.parents[0]].tree, commit.tree)

    def with_git(git_dir):
        from curate_plugins._commits.history import log_commits

        for _ in log_commits(git_dir, ["HEAD"], []):
            pass

    print("\npatch of every non-merge commit (CPU seconds, best of 2, interleaved)")
    for name in names:
        times = {"git log -p (floor)": [], "git CLI + parse (ours)": [], "pygit2": [], "dulwich": []}
        for _ in range(2):
            times["git log -p (floor)"].append(floor(repos[name])[0])
            for label, fn in (("git CLI + parse (ours)", with_git), ("pygit2", with_pygit2), ("dulwich", with_dulwich)):
                started = cpu_seconds()
                fn(repos[name])
                times[label].append(cpu_seconds() - started)
        print(f"  {name:24s} " + "  ".join(f"{k}: {min(v):.2f}" for k, v in times.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="repository names (bundle stems)")
    parser.add_argument("--libraries", action="store_true")
    parser.add_argument("--recall", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-commits-") as tmp:
        started = time.perf_counter()
        repos = clone_all(Path(tmp))
        print(f"bare clones of {len(repos)} bundles: {time.perf_counter() - started:.1f} s (not timed below)")
        if args.only:
            repos = {k: v for k, v in repos.items() if k in args.only}
        bench(repos, args.rounds)
        if args.recall:
            recall_table(repos)
        if args.libraries:
            libraries(repos, [n for n in ("DaveGamble__cJSON", "tj__commander.js") if n in repos])
    sys.stdout.flush()


if __name__ == "__main__":
    main()
