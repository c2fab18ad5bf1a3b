"""The corpus-integrity scenarios of issue 13, run as a user runs them, one line of outcome each.

    python tools/integrity_scenarios.py                       # the installed curate (this checkout)
    python tools/integrity_scenarios.py --code /tmp/before    # another checkout of curate ("before")

Each scenario builds its input from the shipped data (examples/data, tests/data), runs ``curate`` in a subprocess
and prints what happened: exit code, the first line of the message, and the figures that show whether the corpus
went wrong. The data builders are shared with the tests (tests/core/test_lineage.py, test_warc_recovery.py, ...).
Output files are read with this checkout's ``curate.iter_shard``, which reads typed and older layouts alike.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import yaml
import zstandard

REPO = Path(__file__).resolve().parents[1]
GITHUB = REPO / "examples" / "data" / "github"
WARC = REPO / "examples" / "data" / "web" / "debian-docs.warc.gz"
DESER = REPO / "tests" / "data" / "git_tricky" / "mitsuhiko__deser.bundle"


# ---- data builders (used by the tests too) ------------------------------------------------------------------
def read_jsonl_zst(path: Path) -> list[dict]:
    raw = zstandard.ZstdDecompressor().stream_reader(path.read_bytes()).read()
    return [orjson.loads(line) for line in raw.splitlines() if line.strip()]


def write_jsonl_zst(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(zstandard.ZstdCompressor().compress(b"".join(orjson.dumps(r) + b"\n" for r in records)))
    return path


def near_copies(source: Path, target: Path, comment: str = "# reviewed") -> Path:
    """Every file of ``source`` with one comment line appended, under a new id: a batch of near-duplicates."""
    records = read_jsonl_zst(source)
    return write_jsonl_zst(target, [{**r, "id": r["id"] + "#copy", "text": r["text"].rstrip("\n") + f"\n{comment}\n"}
                                    for r in records])


def warc_members(path: Path = WARC) -> list[bytes]:
    """The gzip members of a WARC file (one record each in the shipped example)."""
    import zlib

    raw, members, pos = path.read_bytes(), [], 0
    while pos < len(raw):
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        inflater.decompress(raw[pos:])
        used = len(raw) - pos - len(inflater.unused_data)
        members.append(raw[pos:pos + used])
        pos += used
    return members


def warc_with_bad_header(target: Path, record: int = 0, extra: int = 5000) -> tuple[Path, int]:
    """The shipped WARC with record ``record``'s Content-Length ``extra`` bytes larger than its block.
    Returns the file and the byte offset of the broken record's gzip member."""
    members = warc_members()
    text = gzip.decompress(members[record])
    head, sep, rest = text.partition(b"\r\n\r\n")
    lines = []
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            line = b"Content-Length: %d" % (int(line.split(b":", 1)[1]) + extra)
        lines.append(line)
    broken = io.BytesIO()
    with gzip.GzipFile(fileobj=broken, mode="wb", mtime=0) as handle:
        handle.write(b"\r\n".join(lines) + sep + rest)
    members[record] = broken.getvalue()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"".join(members))
    return target, sum(len(m) for m in members[:record])


def broken_bundles(bundle: Path, folder: Path) -> dict[str, Path]:
    """Three bad ``.bundle`` files made from a real one: truncated, corrupted in its pack, and not a bundle."""
    folder.mkdir(parents=True, exist_ok=True)
    raw = bundle.read_bytes()
    corrupt = bytearray(raw)
    middle = len(raw) // 2
    corrupt[middle:middle + 64] = bytes(b ^ 0xFF for b in corrupt[middle:middle + 64])
    out = {"truncated": folder / "acme__truncated.bundle", "corrupt": folder / "acme__corrupt.bundle",
           "not_a_bundle": folder / "acme__notes.bundle"}
    out["truncated"].write_bytes(raw[: len(raw) // 3])
    out["corrupt"].write_bytes(bytes(corrupt))
    out["not_a_bundle"].write_text("these are my notes, not a git bundle\n")
    return out


# ---- running curate -------------------------------------------------------------------------------------------
class Runner:
    def __init__(self, code: Path | None, work: Path, extra_path: list[Path] = ()):
        self.work = work
        paths = ([str(code), str(code / "plugins")] if code else []) + [str(p) for p in extra_path]
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths + [os.environ.get("PYTHONPATH", "")])}

    def curate(self, *args, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "curate.cli", *map(str, args)], capture_output=True, text=True,
                              env={**self.env, **(env or {})}, timeout=timeout, cwd=self.work)

    def start(self, *args) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "curate.cli", *map(str, args)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env, cwd=self.work)

    def pipeline(self, name: str, data: dict) -> Path:
        path = self.work / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path


def message(proc) -> str:
    """The first line that says something: an error line, else the last line of stderr."""
    lines = [line.strip() for line in (proc.stderr or "").splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if "problem(s)" in line and i + 1 < len(lines):
            return _cut(lines[i + 1])
        if line.startswith(("error", "Error", "Traceback")):
            return _cut(line if not line.startswith("Traceback") else lines[-1])
    return _cut(lines[-1]) if lines else ""


def _cut(text: str, width: int = 150) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def records(folder: Path) -> list[dict]:
    """Every record of the output files under ``folder``, as ``{id, text, metadata: {dotted keys}}``."""
    from curate import iter_shard

    return [r for p in sorted(folder.rglob("*.jsonl.zst")) if ".tmp-" not in p.name for r in iter_shard(str(p))]


def drops(corpus: Path, reason_prefix: str) -> int:
    return sum(1 for r in records(corpus / "excluded") if r["metadata"]["drop.reason"].startswith(reason_prefix))


def kept(corpus: Path) -> list[dict]:
    return records(corpus / "data")


def jsonl_pipeline(name: str, paths: list[str], out: Path, steps: list[dict]) -> dict:
    return {"name": name, "inputs": [{"source": "jsonl", "with": {"paths": paths}}], "output": {"dir": str(out)},
            "executor": {"kind": "local", "workers": 1}, "steps": steps}


# ---- the scenarios ----------------------------------------------------------------------------------------------
def scenario_1_minhash_threshold(r: Runner) -> str:
    shards = r.work / "s1"
    shards.mkdir()
    shutil.copy(GITHUB / "pallets__itsdangerous.jsonl.zst", shards)
    out = r.work / "s1-out"
    path = r.pipeline("s1", jsonl_pipeline("near", [str(shards / "*.jsonl.zst")], out,
                                           [{"uses": "minhash_dedup", "with": {"threshold": 0.7}}]))
    r.curate("run", path, "--no-progress")
    near_copies(GITHUB / "pallets__itsdangerous.jsonl.zst", shards / "itsdangerous-copies.jsonl.zst")
    proc = r.curate("run", path, "--no-progress", "--set", "steps[0].with.threshold=0.8")
    result = f"exit {proc.returncode}; {drops(out, 'near_duplicate')} of 50 near-copies dropped; {message(proc)}"
    if proc.returncode != 0:
        rebuilt = r.curate("run", path, "--no-progress", "--set", "steps[0].with.threshold=0.8",
                           "--rebuild-index", "minhash_dedup")
        result += (f" | with --rebuild-index: exit {rebuilt.returncode}, "
                   f"{drops(out, 'near_duplicate')} of 50 dropped")
    return result


def scenario_2_step_added(r: Runner) -> str:
    shards = r.work / "s2"
    shards.mkdir()
    shutil.copy(GITHUB / "spf13__pflag.jsonl.zst", shards)
    out = r.work / "s2-out"
    steps = [{"uses": "language_from_extension"}, {"uses": "exact_dedup"}]
    path = r.pipeline("s2", jsonl_pipeline("gh", [str(shards / "*.jsonl.zst")], out, steps))
    r.curate("run", path, "--no-progress")
    shutil.copy(GITHUB / "dtolnay__anyhow.jsonl.zst", shards)
    path = r.pipeline("s2", jsonl_pipeline("gh", [str(shards / "*.jsonl.zst")], out,
                                           steps + [{"uses": "code_heuristics", "with": {"max_line_length": 80}}]))
    proc = r.curate("run", path, "--no-progress")
    result = f"exit {proc.returncode}; {_long_old(out)} old docs not filtered by the new step; {message(proc)}"
    if proc.returncode != 0:
        backfill = r.curate("run", path, "--no-progress", "--backfill")
        result += f" | with --backfill: exit {backfill.returncode}, {_long_old(out)} old docs not filtered"
    return result


def _long_old(out: Path) -> int:
    return sum(1 for rec in kept(out) if rec["id"].startswith("spf13/")
               and max(map(len, rec["text"].splitlines() or [""])) > 80)


def scenario_3_other_pipeline(r: Runner) -> str:
    out = r.work / "s3-out"
    a = r.pipeline("s3a", jsonl_pipeline("gh", [str(GITHUB / "*.jsonl.zst")], out,
                                         [{"uses": "language_from_extension"}]))
    r.curate("run", a, "--no-progress")
    own = len(kept(out)) - len({x["text"] for x in kept(out)})  # duplicates within the input itself (no dedup)
    copy = r.work / "s3-copy"
    shutil.copytree(GITHUB, copy)
    b = r.pipeline("s3b", jsonl_pipeline("other", [str(copy / "*.jsonl.zst")], out, [{"uses": "code_heuristics"}]))
    proc = r.curate("run", b, "--no-progress")
    forced = ""
    if proc.returncode != 0:
        forced = r.curate("run", b, "--no-progress", "--allow-other-pipeline")
        forced = f" | with --allow-other-pipeline: exit {forced.returncode}, {message(forced)}"
    records = kept(out)
    texts, ids = [x["text"] for x in records], [x["id"] for x in records]
    return (f"exit {proc.returncode}; {len(texts) - len(set(texts)) - own} duplicate texts (beyond the input's own "
            f"{own}), {len(ids) - len(set(ids))} duplicate ids in data/; {message(proc)}{forced}")


def scenario_4_two_runs(r: Runner, faulty: Path) -> str:
    out = r.work / "s4-out"
    started, release = r.work / "s4-started", r.work / "s4-release"
    wait = {"uses": "wait_at", "with": {"doc_id": "spf13/pflag:flag.go", "started": str(started),
                                        "release": str(release), "timeout": 60}}
    path = r.pipeline("s4", jsonl_pipeline("gh", [str(GITHUB / "*.jsonl.zst")], out,
                                           [wait, {"uses": "exact_dedup"}]))
    env = {"PYTHONPATH": os.pathsep.join([r.env["PYTHONPATH"], str(faulty)])}
    first = subprocess.Popen([sys.executable, "-m", "curate.cli", "run", str(path), "--no-progress"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**r.env, **env},
                             cwd=r.work)
    deadline = time.monotonic() + 120
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    t0 = time.monotonic()
    second = r.curate("run", path, "--no-progress", env=env)
    seconds = time.monotonic() - t0
    release.write_text("go")
    _, first_err = first.communicate(timeout=300)
    first_msg = message(subprocess.CompletedProcess([], first.returncode, "", first_err))
    return (f"second: exit {second.returncode} after {seconds:.1f} s, {message(second)} | first: exit "
            f"{first.returncode} {first_msg}")


def scenario_5_plugin_raises(r: Runner, faulty: Path) -> str:
    out = r.work / "s5-out"
    fixed = r.work / "s5-fixed"
    path = r.pipeline("s5", jsonl_pipeline("gh", [str(GITHUB / "*.jsonl.zst")], out,
                                           [{"uses": "raise_on", "with": {"needle": "e", "fixed": str(fixed)}}]))
    env = {"PYTHONPATH": os.pathsep.join([r.env["PYTHONPATH"], str(faulty)])}
    proc = r.curate("run", path, "--no-progress", env=env)
    errors = drops(out, "error:") + drops(out / "runs" / "run-0001" / "output", "error:")
    fixed.write_text("fixed")
    again = r.curate("run", path, "--no-progress", env=env)
    return (f"exit {proc.returncode}; {errors} of 727 excluded as error:RuntimeError; {message(proc)} | after the "
            f"fix: exit {again.returncode}, {len(kept(out))} docs kept; {message(again)}")


def scenario_6a_bad_bundles(r: Runner, bundle: Path | None) -> str:
    if bundle is None:
        return "skipped: no real bundle given (--bundle)"
    folder = r.work / "s6a"
    broken_bundles(bundle, folder)
    shutil.copy(bundle, folder / bundle.name)
    out = r.work / "s6a-out"
    source = {"source": "git_repos", "with": {"paths": [str(folder / "*")]}}
    path = r.pipeline("s6a", {"name": "repos", "inputs": [source], "output": {"dir": str(out)},
                              "executor": {"kind": "local", "workers": 1}, "steps": []})
    validate = r.curate("validate", path)
    proc = r.curate("run", path, "--no-progress")
    bad = drops(out, "unreadable_repository")
    return (f"validate: exit {validate.returncode} {message(validate) or 'OK'} | run: exit {proc.returncode}, "
            f"{len(kept(out))} files of the good repository kept, {bad} bad bundles excluded; {message(proc)}")


def scenario_6b_bad_warc(r: Runner) -> str:
    broken, offset = warc_with_bad_header(r.work / "s6b" / "broken.warc.gz", record=0)
    out = r.work / "s6b-out"
    path = r.pipeline("s6b", {"name": "web", "inputs": [{"source": "warc", "with": {"paths": [str(broken)]}}],
                              "output": {"dir": str(out)}, "executor": {"kind": "local", "workers": 1}, "steps": []})
    proc = r.curate("run", path, "--no-progress")
    reasons = {}
    for rec in records(out / "excluded"):
        key = f"{rec['metadata']['drop.reason']}@{rec['metadata'].get('reject.location', '').rsplit('@', 1)[-1]}"
        reasons[key] = reasons.get(key, 0) + 1
    return (f"exit {proc.returncode}; {len(kept(out))} of 27 pages read; excluded: {reasons} "
            f"(broken record at @{offset})")


def scenario_6c_commit_parsing(r: Runner) -> str:
    """git_commits over real history whose first commits add an Adobe Illustrator file holding 0x1E bytes."""
    out = r.work / "s6c-out"
    source = {"source": "git_commits", "with": {"paths": [str(DESER)]}}
    path = r.pipeline("s6c", {"name": "commits", "inputs": [source], "output": {"dir": str(out)},
                              "executor": {"kind": "local", "workers": 1}, "steps": []})
    proc = r.curate("run", path, "--no-progress")
    again = r.curate("run", path, "--no-progress")
    return (f"exit {proc.returncode}; {len(kept(out))} commits read; {message(proc)} | rerun: exit "
            f"{again.returncode}; {message(again)}")


def scenario_7_messages(r: Runner, clash: Path) -> list[tuple[str, str]]:
    rows = []
    as_file = r.work / "s7-file"
    as_file.write_text("I am a file")
    path = r.pipeline("s7a", jsonl_pipeline("gh", [str(GITHUB / "spf13__pflag.jsonl.zst")], as_file, []))
    for command in ("validate", "run"):
        proc = r.curate(command, path, "--no-progress") if command == "run" else r.curate(command, path)
        rows.append((f"7 output dir is a file ({command})", f"exit {proc.returncode}; {message(proc)}"))
    ok = r.pipeline("s7b", jsonl_pipeline("gh", [str(GITHUB / "spf13__pflag.jsonl.zst")], r.work / "s7-out",
                                          [{"uses": "language_from_extension"}, {"uses": "code_heuristics"},
                                           {"uses": "exact_dedup"}]))
    proc = r.curate("validate", ok, "--set", "steps.2.with.x=1")
    rows.append(("7 --set steps.2.with.x=1", f"exit {proc.returncode}; {message(proc)}"))
    env = {"PYTHONPATH": os.pathsep.join([r.env["PYTHONPATH"], str(clash)])}
    proc = r.curate("plugins", "list", env=env)
    broken = next((line.strip() for line in proc.stdout.splitlines() if "broken_thing" in line), "")
    rows.append(("7 broken entry point: plugins list", f"exit {proc.returncode}; {_cut(broken) or message(proc)}"))
    proc = r.curate("validate", ok, env=env)
    rows.append(("7 third-party `code_heuristics` clash: validate", f"exit {proc.returncode}; {message(proc) or 'OK'}"))
    quality = r.work / "quality.yaml"
    shutil.copy(REPO / "pipelines" / "quality.yaml", quality)
    t0 = time.monotonic()
    try:
        proc = r.curate("run", quality, "--no-progress", "--set", "steps[1].with.backend.base_url=http://127.0.0.1:9/v1",
                        "--set", f"inputs[0].with.paths=[{GITHUB}/*.jsonl.zst]", "-o", str(r.work / "s7-quality"),
                        timeout=60)
        rows.append(("7 quality.yaml with no LLM server",
                     f"exit {proc.returncode} after {time.monotonic() - t0:.1f} s; {message(proc)}"))
    except subprocess.TimeoutExpired:
        rows.append(("7 quality.yaml with no LLM server", "no message after 60 s (still running; killed)"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--code", type=Path, default=None, help="checkout of curate to run (default: installed)")
    parser.add_argument("--bundle", type=Path, help="a real git bundle for scenario 6a",
                        default=REPO / "tests" / "data" / "repos" / "pallets__itsdangerous.bundle")
    parser.add_argument("--only", default="", help="comma-separated scenario numbers, e.g. 1,4")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="curate-scenarios-") as tmp:
        tmp = Path(tmp)
        sites = {}
        for name in ("faulty_plugin", "clash_plugin"):
            sites[name] = tmp / f"site-{name}"
            subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                            "--target", str(sites[name]), str(REPO / "tests" / "fixtures" / name)], check=True)
        bundle = args.bundle if args.bundle and args.bundle.is_file() else None
        scenarios = [
            ("1", "1 MinHash threshold changed between runs", lambda r: scenario_1_minhash_threshold(r)),
            ("2", "2 step added between runs", lambda r: scenario_2_step_added(r)),
            ("3", "3 other pipeline, same output dir, copied shards", lambda r: scenario_3_other_pipeline(r)),
            ("4", "4 two runs at once", lambda r: scenario_4_two_runs(r, sites["faulty_plugin"])),
            ("5", "5 plugin raises on most documents", lambda r: scenario_5_plugin_raises(r, sites["faulty_plugin"])),
            ("6", "6a corrupt / truncated / non-bundle .bundle", lambda r: scenario_6a_bad_bundles(r, bundle)),
            ("6", "6b WARC whose first record has a bad Content-Length", lambda r: scenario_6b_bad_warc(r)),
            ("6", "6c git_commits on history with a 0x1E-laden .ai file", lambda r: scenario_6c_commit_parsing(r)),
            ("7", None, lambda r: scenario_7_messages(r, sites["clash_plugin"])),
        ]
        only = set(filter(None, args.only.split(",")))
        for number, title, scenario in scenarios:
            if only and number not in only:
                continue
            work = tmp / f"work-{number}-{len(title or '')}"
            work.mkdir()
            try:
                outcome = scenario(Runner(args.code, work))
            except Exception as exc:  # noqa: BLE001 - a tool: report and go on
                outcome = f"scenario failed: {type(exc).__name__}: {exc}"
            rows = outcome if isinstance(outcome, list) else [(title, outcome)]
            for name, text in rows:
                print(f"| {name} | {text} |", flush=True)


if __name__ == "__main__":
    main()
