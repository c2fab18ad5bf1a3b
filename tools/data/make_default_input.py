#!/usr/bin/env python3
"""Build the embedded default input (examples/data/github/) from the git bundles in tests/data/repos.

Each repository's files at HEAD become one JSONL.zst shard (fields: id, text, path, repo, license, commit),
read with curate's own ``git_repos`` source; files the source rejects (binary, vendored, ...) are left out.
Each repository's licence file is copied to examples/data/github/LICENSES/. Usage:

    python tools/data/make_default_input.py [--repos tests/data/repos] [--out examples/data/github]
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import orjson
import zstandard

from curate.gitutil import CatFile, open_repository, repo_name
from curate.licenses import LICENSE_FILE
from curate.plugin import Reject
from curate.sources.git_repos import GitReposSource


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repos", default="tests/data/repos")
    ap.add_argument("--out", default="examples/data/github")
    args = ap.parse_args()
    out = Path(args.out)
    (out / "LICENSES").mkdir(parents=True, exist_ok=True)
    bundles = sorted(Path(args.repos).glob("*.bundle"))
    source = GitReposSource({"paths": [str(b) for b in bundles]})
    for bundle in bundles:
        name = repo_name(str(bundle))
        records = [d for d in source.read_shard(str(bundle)) if not isinstance(d, Reject)]
        lines = b"".join(orjson.dumps({"id": d.id, "text": d.text, **{k: d.metadata[k] for k in
                                       ("path", "repo", "license", "commit") if k in d.metadata}}) + b"\n"
                         for d in records)
        target = out / f"{bundle.stem}.jsonl.zst"
        target.write_bytes(zstandard.ZstdCompressor(level=19).compress(lines))
        _copy_licenses(bundle, out / "LICENSES", bundle.stem)
        size_kb = target.stat().st_size / 1e3
        print(f"{name}: {len(records)} files, {len(lines) / 1e6:.2f} MB -> {target} ({size_kb:.0f} KB)")


def _copy_licenses(bundle: Path, folder: Path, stem: str) -> None:
    with open_repository(str(bundle)) as git_dir:
        listing = subprocess.run(["git", "--git-dir", git_dir, "ls-tree", "HEAD"], check=True, capture_output=True,
                                 text=True).stdout
        with CatFile(git_dir) as blobs:
            for line in listing.splitlines():
                (_mode, kind, sha), path = line.split("\t", 1)[0].split(), line.split("\t", 1)[1]
                if kind == "blob" and LICENSE_FILE.match(path):
                    (folder / f"{stem}.{path}").write_bytes(blobs.read(sha))


if __name__ == "__main__":
    main()
