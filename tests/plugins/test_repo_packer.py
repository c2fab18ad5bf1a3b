"""repo_packer on the real repositories of tests/data/repos: dependency extraction per language, order,
cycles, splitting, token counts, repository selection and the shipped long_context pipeline end to end."""

from __future__ import annotations

import shutil

import orjson
import pytest
import zstandard
from datatrove.data import Document

from curate.sources.git_repos import GitReposSource
from curate.testing import read_corpus, read_excluded, run_cli
from curate_plugins._repo_pack.deps import repo_dependencies
from curate_plugins._repo_pack.graph import strongly_connected, topological_order, weak_components
from curate_plugins._repo_pack.pack import PackConfig, RepoFile, RepoPackerCore
from curate_plugins._repo_pack.parse import Parsers
from curate_plugins.repo_packer import RepoPacker

HUGE = 10**9  # one sequence per repository: checks the order of the whole repository at once

#: language -> the real repository that exercises it
LANGUAGE_REPOS = {"python": "pallets/itsdangerous", "java": "square/javapoet", "javascript": "tj/commander.js",
                  "typescript": "tj/commander.js", "go": "spf13/pflag", "rust": "dtolnay/anyhow",
                  "c": "DaveGamble/cJSON", "cpp": "jarro2783/cxxopts"}


@pytest.fixture(scope="module")
def repos(bundles) -> dict[str, list[RepoFile]]:
    """Every file at HEAD of every bundle, read by the git_repos source."""
    source = GitReposSource({"paths": [str(p) for p in bundles.values()]})
    out: dict[str, list[RepoFile]] = {}
    for shard in source.list_shards():
        for doc in source.read_shard(shard):
            if isinstance(doc, Document):  # Rejects (binary, vendored files) are not files to pack
                m = doc.metadata
                out.setdefault(m["repo"], []).append(RepoFile(doc.id, m["path"], m["lang"], doc.text, m))
    assert set(LANGUAGE_REPOS.values()) <= set(out)
    return out


@pytest.fixture(scope="module")
def deps(repos):
    parsers = Parsers()
    return {repo: repo_dependencies({f.path: (f.lang, f.text) for f in files}, parsers)
            for repo, files in repos.items()}


@pytest.fixture(scope="module")
def core():
    return RepoPackerCore(PackConfig(max_tokens=HUGE))


def _positions(result) -> dict[str, tuple[int, int]]:
    """path -> (sequence index, position in it) of its first piece."""
    out = {}
    for record in result.sequences:
        for i, path in enumerate(record["metadata"]["pack.files"]):
            out.setdefault(path, (record["metadata"]["pack.index"], i))
    return out


def _check_dependencies_first(result, repo_deps, only: set[str] | None = None) -> int:
    """Every dependency (outside a cycle) of a file is placed before it; returns how many were checked."""
    cycle_of = {p: i for i, c in enumerate(strongly_connected(sorted(repo_deps.edges), repo_deps.edges)) for p in c}
    where = _positions(result)
    checked = 0
    for path, targets in repo_deps.edges.items():
        if only is not None and path not in only:
            continue
        for dep in targets:
            if cycle_of[dep] == cycle_of[path]:
                continue  # a cycle: ordered by path inside, see the cycle tests
            assert where[dep] < where[path], f"{dep} must come before {path}"
            checked += 1
    return checked


@pytest.mark.parametrize("lang", sorted(LANGUAGE_REPOS))
def test_every_resolved_import_points_to_an_earlier_file(lang, repos, deps, core):
    repo = LANGUAGE_REPOS[lang]
    result = core.pack(repo, repos[repo])
    assert len(result.sequences) == 1
    checked = _check_dependencies_first(result, deps[repo], {f.path for f in repos[repo] if f.lang == lang})
    assert checked >= 1, f"no dependency of a {lang} file was found in {repo}"


@pytest.mark.parametrize("lang", ["python", "go", "rust"])
def test_resolution_share_is_at_least_90_percent(lang, deps):
    internal, resolved, _ = deps[LANGUAGE_REPOS[lang]].counts[lang]
    assert resolved / internal >= 0.9, deps[LANGUAGE_REPOS[lang]].unresolved


def test_resolution_share_per_language_report(deps, capsys):
    """Prints the table quoted in the issue note (pytest -s shows it)."""
    rows = []
    for lang, repo in sorted(LANGUAGE_REPOS.items()):
        internal, resolved, external = deps[repo].counts[lang]
        rows.append(f"{lang:10s} {repo:22s} internal={internal:4d} resolved={resolved:4d} "
                    f"share={resolved / internal:.1%} external_ignored={external}")
        assert resolved / internal >= 0.75, (lang, deps[repo].unresolved[:10])
    with capsys.disabled():
        print("\n" + "\n".join(rows))


@pytest.mark.parametrize("repo, path, dependency", [
    ("pallets/itsdangerous", "src/itsdangerous/serializer.py", "src/itsdangerous/signer.py"),  # from .signer
    ("pallets/itsdangerous", "tests/test_itsdangerous/test_timed.py", "src/itsdangerous/timed.py"),  # src/ root
    ("square/javapoet", "src/main/java/com/squareup/javapoet/TypeSpec.java",
     "src/main/java/com/squareup/javapoet/CodeBlock.java"),  # same package, no import
    ("tj/commander.js", "index.js", "lib/command.js"),  # require('./lib/command.js')
    ("tj/commander.js", "typings/index.test-d.ts", "typings/index.d.ts"),  # import from '..' → package types
    ("spf13/pflag", "bool.go", "flag.go"),  # same package: newBoolValue uses FlagSet, defined in flag.go
    ("dtolnay/anyhow", "src/lib.rs", "src/error.rs"),  # mod error;
    ("dtolnay/anyhow", "src/error.rs", "src/ptr.rs"),  # use crate::ptr::...
    ("DaveGamble/cJSON", "cJSON_Utils.c", "cJSON_Utils.h"),  # #include "cJSON_Utils.h"
    ("DaveGamble/cJSON", "tests/common.h", "cJSON.c"),  # #include "../cJSON.c"
    ("DaveGamble/cJSON", "tests/parse_string.c", "tests/unity/src/unity.h"),  # "unity/src/unity.h"
    ("jarro2783/cxxopts", "test/options.cpp", "include/cxxopts.hpp"),  # #include "cxxopts.hpp" via include/
])
def test_known_dependencies_of_real_files(repo, path, dependency, deps):
    assert dependency in deps[repo].edges[path]


def test_external_imports_are_ignored(deps):
    python = deps["pallets/itsdangerous"]
    assert all(not t.startswith(("hashlib", "json")) for targets in python.edges.values() for t in targets)
    assert deps["pallets/itsdangerous"].counts["python"][2] > 0  # stdlib / pytest imports seen and ignored
    assert deps["dtolnay/anyhow"].counts["rust"][2] > 0  # core::, std::, alloc:: ...


def test_first_40_lines_of_the_file_order(repos, core, capsys):
    """The order quoted in the issue note: pallets/itsdangerous, files with rules first."""
    result = core.pack("pallets/itsdangerous", repos["pallets/itsdangerous"])
    files = result.sequences[0]["metadata"]["pack.files"]
    assert files.index("src/itsdangerous/encoding.py") < files.index("src/itsdangerous/signer.py") \
        < files.index("src/itsdangerous/serializer.py") < files.index("src/itsdangerous/timed.py")
    with capsys.disabled():
        print("\n" + "\n".join(f"{i + 1:3d} {p}" for i, p in enumerate(files[:40])))


def test_cycles_are_condensed_and_ordered_by_path():
    edges = {"b.py": {"a.py"}, "a.py": {"c.py"}, "c.py": {"b.py"}, "d.py": {"a.py"}, "0.py": set()}
    order, cycles = topological_order(sorted(edges), edges)
    assert cycles == [["a.py", "b.py", "c.py"]]
    assert order == ["0.py", "a.py", "b.py", "c.py", "d.py"]
    assert topological_order(list(reversed(sorted(edges))), edges) == (order, cycles)


def test_real_cycle_in_anyhow_is_contiguous_and_sorted(repos, deps, core):
    cycles = [c for c in strongly_connected(sorted(deps["dtolnay/anyhow"].edges), deps["dtolnay/anyhow"].edges)
              if len(c) > 1]
    assert cycles and "src/lib.rs" in cycles[0]
    files = core.pack("dtolnay/anyhow", repos["dtolnay/anyhow"]).sequences[0]["metadata"]["pack.files"]
    start = files.index(cycles[0][0])
    assert files[start:start + len(cycles[0])] == cycles[0]


@pytest.mark.parametrize("repo, max_tokens", [("DaveGamble/cJSON", 4096), ("tj/commander.js", 16384)])
def test_oversized_repository_is_split_by_components_then_chunks(repo, max_tokens, repos, deps):
    small = RepoPackerCore(PackConfig(max_tokens=max_tokens))
    result = small.pack(repo, repos[repo])
    tokens = [r["metadata"]["pack.tokens"] for r in result.sequences]
    assert len(tokens) > 5 and max(tokens) <= max_tokens
    assert all(r["metadata"]["pack.tokens"] == small.tokens.count([r["text"]])[0] for r in result.sequences)
    assert {r["metadata"]["pack.split"] for r in result.sequences} == {"chunks"}
    assert {p for r in result.sequences for p in r["metadata"]["pack.files"]} == {f.path for f in repos[repo]}
    assert _check_dependencies_first(result, deps[repo]) > 10
    # a weakly connected component that fits is never cut
    d = deps[repo]
    order, _ = topological_order(sorted(d.edges), d.edges)
    where = _positions(result)
    piece_tokens = {f.path: small.tokens.count([small.header(f.path) + f.text])[0] for f in repos[repo]}
    kept_whole = 0
    for component in weak_components(order, d.edges):
        if len(component) > 1 and sum(piece_tokens[p] for p in component) <= max_tokens:
            assert len({where[p][0] for p in component}) == 1, component
            kept_whole += 1
    assert kept_whole >= (repo == "tj/commander.js")


def test_repository_of_independent_components_is_split_between_them():
    """Two packages that do not import each other: each becomes its own sequence, uncut."""
    body = "def f(x):\n    return x + 1\n" * 200
    files = [RepoFile(f"{pkg}/{name}", f"{pkg}/{name}.py", "python", f"from .base import f\n{body}", {})
             for pkg in ("alpha", "beta") for name in ("one", "two")]
    files += [RepoFile(f"{pkg}/base", f"{pkg}/base.py", "python", body, {}) for pkg in ("alpha", "beta")]
    counter = RepoPackerCore(PackConfig())
    sizes = counter.tokens.count([counter.header(f.path) + f.text for f in files])
    one_package = sum(n for f, n in zip(files, sizes) if f.path.startswith("alpha/"))
    result = RepoPackerCore(PackConfig(max_tokens=one_package + 10)).pack("synthetic", files)
    assert [r["metadata"]["pack.files"] for r in result.sequences] == [
        ["alpha/base.py", "alpha/one.py", "alpha/two.py"], ["beta/base.py", "beta/one.py", "beta/two.py"]]
    assert {r["metadata"]["pack.split"] for r in result.sequences} == {"components"}


def test_oversized_file_is_split_in_order_or_truncated(repos):
    repo, path = "jarro2783/cxxopts", "test/catch.hpp"
    files = [f for f in repos[repo] if f.path in (path, "test/main.cpp", "include/cxxopts.hpp")]
    text = next(f.text for f in files if f.path == path)
    split = RepoPackerCore(PackConfig(max_tokens=8192)).pack(repo, files)
    parts = [(r["metadata"]["pack.index"], o) for r in split.sequences for o in r["metadata"]["pack.oversized"]
             if o["path"] == path]
    assert [o["part"] for _, o in parts] == list(range(parts[0][1]["parts"])) and len(parts) > 2
    assert all(o["handling"] == "split" for _, o in parts)
    assert [i for i, _ in parts] == sorted(i for i, _ in parts)
    header = "<|file_sep|>test/catch.hpp\n"
    rebuilt = "".join(chunk.split("<|file_sep|>", 1)[0] for r in split.sequences
                      for chunk in r["text"].split(header)[1:])
    assert rebuilt == text
    truncated = RepoPackerCore(PackConfig(max_tokens=8192, oversized="truncate")).pack(repo, files)
    notes = [o for r in truncated.sequences for o in r["metadata"]["pack.oversized"] if o["path"] == path]
    assert len(notes) == 1 and notes[0]["handling"] == "truncated" and notes[0]["parts"] == 1


@pytest.mark.parametrize("max_tokens", [64, 300, 5000])
def test_split_parts_fit_and_join_to_the_file(max_tokens, repos):
    f = next(f for f in repos["DaveGamble/cJSON"] if f.path == "cJSON.c")
    core = RepoPackerCore(PackConfig(max_tokens=max_tokens))
    pieces = core._oversized(f)
    assert "".join(p.text for p in pieces) == f.text
    assert all(p.tokens <= max_tokens for p in pieces) and len(pieces) > 1
    assert [p.tokens for p in pieces] == core.tokens.count([core.header(f.path) + p.text for p in pieces])


@pytest.mark.parametrize(("source", "max_tokens"), [("_pydecimal", 300), ("_pydecimal", 4096), ("cJSON", 2048),
                                                   ("cJSON", 8192)])
def test_parts_counted_from_the_file_encoding_are_exact(source, max_tokens, repos):
    """Large real files (the standard library's pure-Python decimal; cJSON.c): parts whose cuts are clean line
    ends (before a line in column 0) are counted from the tokens of the whole file, without encoding them
    again; every count equals a fresh encoding of separator + part."""
    if source == "_pydecimal":
        import _pydecimal

        with open(_pydecimal.__file__, encoding="utf-8") as handle:
            f = RepoFile("d", "Lib/_pydecimal.py", "python", handle.read(), {})
    else:
        f = next(f for f in repos["DaveGamble/cJSON"] if f.path == "cJSON.c")
    core = RepoPackerCore(PackConfig(max_tokens=max_tokens))
    counts, kept = core.tokens.count_keeping([core.header(f.path) + f.text], max_tokens)
    encoded = []
    count = core.tokens.count
    core.tokens.count = lambda texts: encoded.extend(texts) or count(texts)
    pieces = core._oversized(f, kept[0])
    core.tokens.count = count
    assert "".join(p.text for p in pieces) == f.text and len(pieces) >= 3
    assert [p.tokens for p in pieces] == count([core.header(f.path) + p.text for p in pieces])
    if source == "cJSON":  # top-level C functions: clean cuts, most of the file is not encoded again
        assert sum(map(len, encoded)) < 0.5 * len(f.text)


def test_references_recorded_by_the_syntax_step_are_reused(repos):
    """treesitter_syntax (dependencies: true) records the references from its own parse; the packer reuses
    them (no parse) and packs exactly as when it parses itself. A record for another text is not trusted."""
    from curate.testing import apply_step, make_doc
    from curate_plugins.treesitter_syntax import TreesitterSyntax

    names = ["pallets/itsdangerous", "spf13/pflag"]  # Python; Go (package-wide names too)
    plain = {n: [RepoFile(f.id, f.path, f.lang, f.text, {}) for f in repos[n]] for n in names}
    docs = [make_doc(f.text, f.id, lang=f.lang, path=f.path) for n in names for f in plain[n]]
    annotated = {d.id: d.metadata for d in apply_step(TreesitterSyntax({"drop": False, "dependencies": True}),
                                                     docs).kept}
    recorded = {n: [RepoFile(f.id, f.path, f.lang, f.text, annotated[f.id]) for f in plain[n]] for n in names}
    own, reused = RepoPackerCore(PackConfig(max_tokens=8192)), RepoPackerCore(PackConfig(max_tokens=8192))
    for n in names:
        assert reused.pack(n, recorded[n]).sequences == own.pack(n, plain[n]).sequences
    supported = sum(1 for n in names for f in plain[n] if f.lang in ("python", "go"))
    assert reused.parsers.parsed == 0 and reused.parsers.reused == supported > 50
    assert own.parsers.parsed + own.parsers.cached == supported
    stale = [RepoFile(f.id, f.path, f.lang, f.text + "\nimport os\n", f.metadata) for f in recorded[names[0]]
             if f.lang == "python"]
    parsers = Parsers()
    found = [parsers.refs(f.lang, f.text, f.metadata) for f in stale]
    assert parsers.reused == 0 and parsers.parsed == len(stale)
    assert all(any(r.spec == "os" for r in refs.refs) for refs in found)


def test_files_without_rules_follow_in_seeded_random_order(repos):
    repo = "pallets/itsdangerous"
    a = RepoPackerCore(PackConfig(max_tokens=HUGE, seed=1)).pack(repo, repos[repo])
    b = RepoPackerCore(PackConfig(max_tokens=HUGE, seed=1)).pack(repo, list(reversed(repos[repo])))
    c = RepoPackerCore(PackConfig(max_tokens=HUGE, seed=2)).pack(repo, repos[repo])
    meta_a = a.sequences[0]["metadata"]
    assert a.sequences == b.sequences  # input order does not matter
    ordered = meta_a["pack.ordered"]
    assert ordered == sorted(ordered, reverse=True)  # ordered files first, then the rest
    tail = [p for p, o in zip(meta_a["pack.files"], ordered) if not o]
    assert {p for p, o in zip(c.sequences[0]["metadata"]["pack.files"], ordered) if not o} == set(tail)
    assert tail != sorted(tail) and c.sequences[0]["metadata"]["pack.files"] != meta_a["pack.files"]


def test_rendering_and_metadata(repos, core):
    result = core.pack("spf13/pflag", repos["spf13/pflag"])
    record = result.sequences[0]
    meta = record["metadata"]
    assert record["text"].startswith(f"<|file_sep|>{meta['pack.files'][0]}\n")
    assert record["text"].count("<|file_sep|>") == len(meta["pack.files"]) == len(meta["pack.file_ids"])
    assert meta["repo"] == "spf13/pflag" and meta["lang"] == "go" and meta["pack.tokens"] > 0
    assert all(j < i for i, j in meta["pack.edges"] if meta["pack.cycles"] == 0) or meta["pack.cycles"] > 0


@pytest.mark.parametrize("config, reason", [
    ({"min_files": 60}, "repo_too_few_files"),
    ({"max_files": 10}, "repo_too_many_files"),
    ({"min_avg_quality": 0.6}, "repo_low_quality"),
])
def test_repository_selection_reasons(config, reason, repos):
    files = [RepoFile(f.id, f.path, f.lang, f.text, {**f.metadata, "quality.score": 0.5})
             for f in repos["pallets/itsdangerous"]]
    result = RepoPackerCore(PackConfig(max_tokens=HUGE, **config)).pack("pallets/itsdangerous", files)
    assert not result.sequences
    assert {r for _, r in result.dropped} == {reason} and len(result.dropped) == len(files)


def test_quality_selection_keeps_good_repositories_and_ignores_missing_scores(repos):
    files = repos["pallets/itsdangerous"]
    scored = [RepoFile(f.id, f.path, f.lang, f.text, {**f.metadata, "quality.score": 0.8}) for f in files]
    assert RepoPackerCore(PackConfig(max_tokens=HUGE, min_avg_quality=0.6)).pack("r", scored).sequences
    assert RepoPackerCore(PackConfig(max_tokens=HUGE, min_avg_quality=0.6)).pack("r", files).sequences


def test_duplicate_paths_are_dropped_with_a_reason(repos):
    files = repos["pallets/itsdangerous"]
    twin = RepoFile("twin", files[0].path, files[0].lang, "x = 1\n", {})
    result = RepoPackerCore(PackConfig(max_tokens=HUGE)).pack("r", files + [twin])
    assert [(f.id, r) for f, r in result.dropped] == [("twin", "duplicate_path")] or \
        [r for _, r in result.dropped] == ["duplicate_path"]


def test_check_reports_bad_tokenizer_and_separator():
    problems = RepoPacker({"tokenizer": "tiktoken:not_an_encoding", "separator": "<sep>"}).check()
    assert any("tokenizer" in p for p in problems) and any("separator" in p for p in problems)
    assert RepoPacker().check() == []


def _write_shards(repos, names: list[str], folder, shards: int = 3) -> list[str]:
    """The files of ``names`` dealt round-robin over ``shards`` JSONL shards: each repository spans all."""
    folder.mkdir()
    lines = [[] for _ in range(shards)]
    i = 0
    for name in names:
        for f in repos[name]:
            rec = {"id": f.id, "text": f.text, "path": f.path, "repo": name}
            lines[i % shards].append(orjson.dumps(rec))
            i += 1
    for k, chunk in enumerate(lines):
        (folder / f"part-{k}.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(b"\n".join(chunk) + b"\n"))
    return [f.id for name in names for f in repos[name]]


def test_long_context_pipeline_end_to_end(repo_root, tmp_path, repos):
    """The shipped YAML over repositories spread across 3 shards: every file is packed or excluded once."""
    yaml = tmp_path / "long_context.yaml"
    shutil.copy(repo_root / "pipelines" / "long_context.yaml", yaml)
    ids = _write_shards(repos, ["pallets/itsdangerous", "spf13/pflag", "dtolnay/anyhow"], tmp_path / "in")
    out = tmp_path / "out"
    run_cli("validate", yaml)
    run_cli("run", yaml, "-o", out, "-w", "2", "--set", f"inputs[0].with.paths=['{tmp_path}/in/*.jsonl.zst']",
            "--set", "steps[4].with.min_files=31", "--set", "steps[4].with.buckets=5", cwd=repo_root)
    records = read_corpus(out)
    excluded = read_excluded(out)
    packed_ids = [i for r in records for i in r["metadata"]["pack.file_ids"]]
    reasons = {r["id"]: r["metadata"]["drop.reason"] for r in excluded}
    assert sorted(set(packed_ids) | set(reasons)) == sorted(ids)
    assert not set(packed_ids) & set(reasons)
    # not code to learn from, each with its reason (Seed-Coder packs the files left after filtering)
    assert {"lockfile", "image_as_text", "tooling_config"} <= set(reasons.values())
    by_path = {r["metadata"]["path"]: r["metadata"]["drop.reason"] for r in excluded
               if r["metadata"]["repo"] == "pallets/itsdangerous"}
    assert by_path["uv.lock"] == "lockfile" and by_path["docs/_static/itsdangerous-logo.svg"] == "image_as_text"
    assert by_path[".github/workflows/tests.yaml"] == "tooling_config"
    assert {"repo_too_few_files"} <= set(reasons.values())  # itsdangerous keeps 30 files < 31
    assert {r["metadata"]["repo"] for r in records} == {"spf13/pflag", "dtolnay/anyhow"}
    for repo in ("spf13/pflag", "dtolnay/anyhow"):  # one repository's files met in one bucket
        seqs = [r for r in records if r["metadata"]["repo"] == repo]
        assert sorted(r["metadata"]["pack.index"] for r in seqs) == list(range(seqs[0]["metadata"]["pack.count"]))
    assert all(r["metadata"]["pack.tokens"] <= 32768 for r in records)
    applied = [r for r in records if r["metadata"]["fim.applied"]]
    assert all(r["text"].startswith("<|fim_suffix|>") for r in applied)
    unchanged = [r for r in records if not r["metadata"]["fim.applied"]]
    assert unchanged and all(r["text"].startswith("<|file_sep|>") for r in unchanged)
    summary = run_cli("report", out, "--no-yaml", cwd=repo_root).stdout
    assert "repo_packer" in summary and "repo_too_few_files" in summary


SYNTHETIC = {
    "go": ({"go.mod": ("go-module", "module example.com/tool\n\ngo 1.22\n"),
            "cmd/tool/main.go": ("go", 'package main\n\nimport (\n\t"fmt"\n'
                                       '\tcfg "example.com/tool/internal/config"\n)\n'
                                       "\nfunc main() { fmt.Println(cfg.Load()) }\n"),
            "internal/config/config.go": ("go", "package config\n\nfunc Load() Settings { return Settings{} }\n"),
            "internal/config/types.go": ("go", "package config\n\ntype Settings struct{}\n"),
            "internal/config/config_test.go": ("go", 'package config\n\nimport "testing"\n\n'
                                                     "func TestLoad(t *testing.T) { Load() }\n")},
           {("cmd/tool/main.go", "internal/config/config.go"), ("cmd/tool/main.go", "internal/config/types.go"),
            ("internal/config/config.go", "internal/config/types.go"),
            ("internal/config/config_test.go", "internal/config/config.go")}),
    "typescript": ({"src/index.ts": ("typescript", 'export { App } from "./app.js";\n'
                                                   'import type { X } from "./types";\n'),
                    "src/app.tsx": ("tsx", 'import { helper } from "./util";\nimport React from "react";\n'
                                           "export const App = () => <div>{helper()}</div>;\n"),
                    "src/util/index.ts": ("typescript", "export const helper = () => 1;\n"),
                    "src/types.d.ts": ("typescript", "export type X = number;\n")},
                   {("src/index.ts", "src/app.tsx"), ("src/index.ts", "src/types.d.ts"),
                    ("src/app.tsx", "src/util/index.ts")}),
    "rust": ({"Cargo.toml": ("toml", '[package]\nname = "my-crate"\n'),
              "src/lib.rs": ("rust", "pub mod net;\nmod util;\npub use crate::net::Client;\n"),
              "src/net/mod.rs": ("rust", "mod client;\npub use self::client::Client;\n"),
              "src/net/client.rs": ("rust", "use super::super::util::helper;\npub struct Client;\n"),
              "src/util.rs": ("rust", "pub fn helper() {}\n"),
              "tests/it.rs": ("rust", "use my_crate::net::Client;\nuse std::fmt;\n")},
             {("src/lib.rs", "src/net/mod.rs"), ("src/lib.rs", "src/util.rs"), ("src/net/mod.rs", "src/net/client.rs"),
              ("src/net/client.rs", "src/util.rs"), ("tests/it.rs", "src/net/mod.rs")}),
    "java": ({"src/main/java/org/ex/a/Base.java": ("java", "package org.ex.a;\npublic class Base {}\n"),
              "src/main/java/org/ex/a/Util.java": ("java", "package org.ex.a;\npublic final class Util {\n"
                                                           "  public static int one() { return 1; }\n}\n"),
              "src/main/java/org/ex/b/Child.java": ("java", "package org.ex.b;\nimport org.ex.a.*;\n"
                                                            "import static org.ex.a.Util.one;\nimport java.util.List;\n"
                                                            "class Child extends Base {}\n")},
             {("src/main/java/org/ex/b/Child.java", "src/main/java/org/ex/a/Base.java"),
              ("src/main/java/org/ex/b/Child.java", "src/main/java/org/ex/a/Util.java")}),
    "python": ({"pkg/__init__.py": ("python", "from .core import run\n"),
                "pkg/core.py": ("python", "from . import helpers\nfrom .sub.deep import thing\nimport os\n"),
                "pkg/helpers.py": ("python", ""),
                "pkg/sub/__init__.py": ("python", ""),
                "pkg/sub/deep.py": ("python", "from ..helpers import *\nthing = 1\n"),
                "scripts/go.py": ("python", "import pkg.core\nfrom pkg import helpers as h\nimport numpy\n")},
               {("pkg/__init__.py", "pkg/core.py"), ("pkg/core.py", "pkg/helpers.py"),
                ("pkg/core.py", "pkg/sub/deep.py"), ("pkg/core.py", "pkg/__init__.py"),
                ("pkg/sub/deep.py", "pkg/helpers.py"),
                ("scripts/go.py", "pkg/core.py"), ("scripts/go.py", "pkg/helpers.py"),
                ("scripts/go.py", "pkg/__init__.py")}),
}


@pytest.mark.parametrize("lang", sorted(SYNTHETIC))
def test_resolution_rules_on_small_layouts(lang):
    """Layouts the shared repositories do not cover: Go packages, TS `.js`→`.ts`, Rust `super::`, Java
    wildcards and static imports, Python packages. Each expected edge is found, and nothing else."""
    files, expected = SYNTHETIC[lang]
    deps = repo_dependencies(files, Parsers())
    found = {(path, dep) for path, targets in deps.edges.items() for dep in targets}
    assert found == expected
    internal, resolved, external = (sum(c[i] for c in deps.counts.values()) for i in range(3))
    assert internal == resolved and external >= 1


def test_route_step_buckets_files_and_drops_those_without_a_repository(tmp_path):
    from curate.io import iter_shard
    from curate.testing import apply_step, make_doc
    from curate_plugins._repo_pack.steps import RouteByRepo, bucket_of

    docs = [make_doc("a = 1\n", f"r{i}:{k}", repo=f"org/r{i}", path=f"f{k}.py") for i in range(6) for k in range(2)]
    docs.append(make_doc("x\n", "orphan", path="x.py"))
    out = apply_step(RouteByRepo(str(tmp_path), buckets=4, repo_key="repo"), docs)
    assert out.kept == [] and out.reasons == {"orphan": "no_repo"}
    manifest = orjson.loads((tmp_path / "route" / "r00000.json").read_bytes())
    assert sum(manifest.values()) == 12
    for bucket, count in manifest.items():
        recs = list(iter_shard(str(tmp_path / "route" / f"b{int(bucket):05d}" / "r00000.jsonl.zst")))
        assert len(recs) == count and {bucket_of(r["metadata"]["repo"], 4) for r in recs} == {int(bucket)}
