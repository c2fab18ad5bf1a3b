"""ngram_decontaminate: normaliser, recall on planted benchmarks, false positives on clean repos, short items,
incremental index, audit report, CLI and the shipped pipeline."""

from __future__ import annotations

import random
import shutil
from collections import defaultdict
from pathlib import Path

import orjson
import pytest
import zstandard
from _decontam_helpers import ALTERATIONS, alter, load_problems, plant

from curate.run import PipelineRefused
from curate.testing import apply_step, make_doc, read_corpus, read_excluded, run_cli, run_pipeline_dict
from curate_plugins._decontam import benchmarks as bench
from curate_plugins._decontam.index import ensure_part, list_parts
from curate_plugins._decontam.normalize import Tokens, reference_ngram_hash, words
from curate_plugins.ngram_decontaminate import DecontaminationFilter, NgramDecontaminate, shape_of


def _filter(tmp_path, **params) -> DecontaminationFilter:
    """The stage's per-shard filter over an index built in tmp_path, as the planner would run it."""
    p = NgramDecontaminate.Params(**params)
    index_dir = str(tmp_path / "index")
    for spec in [bench.bundled(b) if isinstance(b, str) else b.spec() for b in p.benchmarks]:
        ensure_part(spec, shape_of(p), index_dir)
    return DecontaminationFilter(index_dir, "run-test", p)


def _repo_files(checkouts) -> list[tuple[str, str]]:
    """(id, text) of every UTF-8 text file at HEAD of the seven real repositories in tests/data/repos."""
    out = []
    for name, root in sorted(checkouts.items()):
        for path in sorted(root.rglob("*")):
            if ".git" in path.parts or not path.is_file() or path.is_symlink():
                continue
            try:
                text = path.read_bytes().decode("utf-8")
            except UnicodeDecodeError:
                continue
            if "\0" not in text:
                out.append((f"{name}:{path.relative_to(root)}", text))
    return out


# ---- normaliser ------------------------------------------------------------------------------------------

def test_vectorised_hashes_equal_the_reference_and_ignore_formatting():
    rng = random.Random(5)
    alphabet = "abcXYZ_019 \t\n.,;:()[]{}+-*/=<>'\"#éλ漢"
    for _ in range(200):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
        toks, ws = Tokens(text), words(text)
        assert len(toks) == len(ws)
        for n in (1, 3, 10):
            expected = [reference_ngram_hash(ws[i:i + n]) for i in range(len(ws) - n + 1)]
            assert toks.ngram_hashes(n).tolist() == expected
    a = Tokens("def f(a, b):\n    return a+b  # add\n")
    b = Tokens("DEF  f( a,b ) :\r\n\treturn (a + b)#add")
    assert a.hashes.tolist() == b.hashes.tolist()
    assert words("x+=1; déjà_vu") == ["x", "1", "déjà_vu"]


# ---- recall (evidence 1) ---------------------------------------------------------------------------------

def test_recall_on_every_planted_humaneval_and_mbpp_problem(checkouts, tmp_path):
    hosts = [text for _, text in _repo_files(checkouts) if 200 < len(text) < 20_000]
    problems = load_problems(bench.data_dir())
    assert sum(p["bench"] == "humaneval" for p in problems) == 164 and len(problems) == 164 + 974
    docs, truth = [], {}
    for k, problem in enumerate(problems):
        for how in ALTERATIONS:
            doc_id = f"{how}:{problem['bench']}/{problem['id']}"
            docs.append(make_doc(plant(hosts[k % len(hosts)], alter(problem, how)), doc_id))
            truth[doc_id] = (how, problem["bench"], f"{problem['bench']}/{problem['id']}")
    result = apply_step(_filter(tmp_path), docs)
    found = defaultdict(int)
    totals = defaultdict(int)
    misses = defaultdict(list)
    for doc in result.dropped:
        how, name, item = truth[doc.id]
        assert doc.metadata["drop.reason"].startswith("contaminated:")
        if item in doc.metadata["decontam.items"]:
            found[(how, name)] += 1
    for how, name, _item in truth.values():
        totals[(how, name)] += 1
    dropped_ids = {d.id for d in result.dropped}
    for doc_id, (how, _name, item) in truth.items():
        if doc_id not in dropped_ids:
            misses[how].append(item)
    print("\nrecall per alteration (planted into real files of tests/data/repos):")
    for how in ALTERATIONS:
        parts = [f"{name} {found[(how, name)]}/{totals[(how, name)]} "
                 f"({100 * found[(how, name)] / totals[(how, name)]:.1f}%)" for name in ("humaneval", "mbpp")]
        print(f"  {how:18s} {'  '.join(parts)}   missed: {misses[how][:12]}{' ...' if len(misses[how]) > 12 else ''}")
    for how in ("verbatim", "reindented", "comments_stripped"):
        for name in ("humaneval", "mbpp"):
            assert found[(how, name)] == totals[(how, name)], (how, name, misses[how])
    for name in ("humaneval", "mbpp"):
        assert found[("renamed_variables", name)] / totals[("renamed_variables", name)] >= 0.98
        assert found[("solution_only", name)] / totals[("solution_only", name)] >= 0.80


def test_probe_agrees_with_a_python_set_and_explains_solution_only_misses(tmp_path):
    """The vectorised probe (bitmap, then binary search) finds exactly the n-grams a Python set lookup finds;
    a solution-only copy is missed only when the solution has no indexed 10-gram (too short, or only numbers
    and common words)."""
    flt = _filter(tmp_path)
    flt.setup()
    index = flt._index
    indexed = set(index.hashes.tolist())
    reasons = defaultdict(list)
    for problem in load_problems(bench.data_dir()):
        tokens = Tokens(problem["solution"])
        expected = set(tokens.ngram_hashes(10).tolist()) & indexed
        match = index.probe(tokens)
        assert (match.distinct if match else 0) == len(expected), problem["id"]
        if not expected:
            reasons["fewer than 10 words" if len(tokens) < 10 else "no informative 10-gram"].append(problem["id"])
    print(f"\nsolution-only copies not detectable by design: { {k: len(v) for k, v in reasons.items()} }")
    assert len(reasons["fewer than 10 words"]) > len(reasons["no informative 10-gram"])


# ---- false positives (evidence 2) ------------------------------------------------------------------------

def test_no_false_positive_on_the_clean_real_repositories(checkouts, tmp_path):
    files = _repo_files(checkouts)
    result = apply_step(_filter(tmp_path, action="annotate"), [make_doc(text, doc_id) for doc_id, text in files])
    hits = [(d.id, d.metadata["decontam.items"], d.metadata["decontam.snippet"])
            for d in result.kept if "decontam.items" in d.metadata]
    print(f"\nclean corpus: {len(files)} files, {len(hits)} flagged ({100 * len(hits) / len(files):.2f}%)")
    for hit in hits:
        print("  ", hit)
    assert len(files) > 700 and hits == []


def test_guards_are_what_keeps_real_files_clean(checkouts, fixture_data, tmp_path):
    """Without the boilerplate guards, real files do get flagged (a Python 2 grammar test that spells out
    numbers like HumanEval/19), so the previous test can fail."""
    files = _repo_files(checkouts) + [(str(p.relative_to(fixture_data)), p.read_bytes().decode("utf-8", "replace"))
                                      for p in sorted((fixture_data / "tricky").rglob("*.py"))]
    docs = [make_doc(text, doc_id) for doc_id, text in files]
    bare = _filter(tmp_path / "bare", min_distinct_words=1, boilerplate=[], word_frequencies=None,
                   max_items_per_ngram=10_000, action="annotate")
    hits = {d.id: d.metadata["decontam.items"] for d in apply_step(bare, docs).kept if "decontam.items" in d.metadata}
    print(f"\nwithout guards: {len(hits)} of {len(files)} real files flagged: {hits}")
    assert hits == {"tricky/python2/py2_test_grammar.py": ["humaneval/HumanEval/19"]}
    guarded = apply_step(_filter(tmp_path / "guarded", action="annotate"), [make_doc(d.text, d.id) for d in docs])
    assert not any("decontam.items" in d.metadata for d in guarded.kept)


def test_boilerplate_shared_with_a_benchmark_does_not_flag_a_file(checkouts, tmp_path):
    host = dict(_repo_files(checkouts))["pallets__itsdangerous:src/itsdangerous/encoding.py"]
    boilerplate = (
        "class Pair:\n    def __init__(self, a, b):\n        self.a = a\n        self.b = b\n\n"  # MBPP 601
        "def elements(self):\n    '''Iterator over elements repeating each as many times as its count.'''\n"
        "TABLE = [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]]\n"
        "NAMES = {'one': 1, 'two': 2, 'three': 3, 'four': 4, 'five': 5, 'six': 6, 'seven': 7}\n"
        "for i in range(len(arr)):\n    for j in range(i + 1, len(arr)):\n        pass\n"
        'if __name__ == "__main__":\n    import doctest\n    doctest.testmod()\n')
    doc = make_doc(plant(host, boilerplate), "boilerplate")
    assert apply_step(_filter(tmp_path / "guarded"), [doc]).dropped == []
    bare = _filter(tmp_path / "bare", min_distinct_words=1, boilerplate=[], word_frequencies=None,
                   max_items_per_ngram=10_000)
    dropped = apply_step(bare, [make_doc(doc.text, "boilerplate")]).dropped
    assert dropped and dropped[0].metadata["drop.reason"].startswith("contaminated:")


# ---- short items, user benchmarks, bad input --------------------------------------------------------------

def _user_bench(tmp_path, rows) -> str:
    path = tmp_path / "mine.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return str(path)


def test_short_items_match_as_exact_normalised_word_sequences(tmp_path):
    path = _user_bench(tmp_path, [
        {"qid": "q1", "question": "Reverse the words of a sentence in place.", "answer": None},
        {"qid": "q2", "question": "Sort it", "answer": None},
    ])
    user = {"name": "mine", "path": path, "id_field": "qid", "prompt": "question", "solution": "answer",
            "tests": None}
    flt = _filter(tmp_path, benchmarks=[user], min_short=4)
    docs = [make_doc("# TODO: reverse   the WORDS of a sentence, in-place!\nx = 1\n", "hit"),
            make_doc("# reverse the words of a paragraph in place\n", "near"),
            make_doc("sort it\n", "too-short")]
    result = apply_step(flt, docs)
    assert result.reasons == {"hit": "contaminated:mine"}
    assert result.dropped[0].metadata["decontam.items"] == ["mine/q1"]
    meta = list_parts(str(tmp_path / "index"))[0]
    assert meta["short_items"] == 1 and meta["skipped_items"] == ["q2"]


def test_bad_user_benchmark_names_file_and_line(tmp_path):
    path = _user_bench(tmp_path, [{"id": "a", "prompt": "x"}, {"id": "b"}])
    with pytest.raises(ValueError, match=r"mine.jsonl:2: benchmark 'mine': missing field 'prompt'"):
        _filter(tmp_path, benchmarks=[{"name": "mine", "path": path, "solution": None, "tests": None}])
    with pytest.raises(ValueError, match="unknown bundled benchmark 'humaneval_plus'"):
        NgramDecontaminate.Params(benchmarks=["humaneval_plus"])


# ---- pipeline, incremental index, audit report, CLI (evidence 4) ------------------------------------------

def _input_with_leaks(default_input, folder, leak_ids: dict[str, str]):
    """Real shards of the embedded input, plus one shard whose files have benchmark problems planted."""
    folder.mkdir(parents=True)
    for name in ("pallets__itsdangerous", "spf13__pflag"):
        shutil.copy(default_input / f"{name}.jsonl.zst", folder / f"{name}.jsonl.zst")
    problems = {f"{p['bench']}/{p['id']}": p for p in load_problems(bench.data_dir())}
    host = "import os\n\n\ndef main():\n    return os.getcwd()\n"
    rows = [{"id": doc_id, "text": plant(host, alter(problems[item], "reindented")), "path": f"{doc_id}.py",
             "repo": "leaky/repo"} for doc_id, item in leak_ids.items()]
    (folder / "zz_leaky.jsonl.zst").write_bytes(
        zstandard.ZstdCompressor().compress(b"".join(orjson.dumps(r) + b"\n" for r in rows)))


def test_shipped_pipeline_end_to_end_with_audit_report(copy_pipeline, default_input, tmp_path):
    yaml_path, out = copy_pipeline("decontaminate.yaml")
    leaks = {"leak-he-0": "humaneval/HumanEval/0", "leak-mbpp-11": "mbpp/11", "leak-mbpp-11-bis": "mbpp/11"}
    _input_with_leaks(default_input, tmp_path / "in", leaks)
    run_cli("validate", yaml_path)
    run_cli("run", yaml_path, "-o", out, "-w", "2", "--set", f"inputs[0].with.paths=['{tmp_path / 'in'}/*.jsonl.zst']")
    excluded = {r["id"]: r["metadata"] for r in read_excluded(out)}
    assert {k: v["drop.reason"] for k, v in excluded.items()} == {
        "leak-he-0": "contaminated:humaneval", "leak-mbpp-11": "contaminated:mbpp",
        "leak-mbpp-11-bis": "contaminated:mbpp"}
    assert excluded["leak-he-0"]["decontam.items"][0] == "humaneval/HumanEval/0"
    assert excluded["leak-he-0"]["decontam.item_ngrams"][0] > 10
    kept = read_corpus(out)
    assert len(kept) > 100 and not any(k.startswith("leak") for k in (r["id"] for r in kept))
    audit = orjson.loads(run_cli("decontam-report", out, "--json").stdout)
    summary = audit["steps"]["ngram_decontaminate"]["benchmarks"]
    assert summary["humaneval"]["items_total"] == 164 and summary["humaneval"]["items_leaked"] == 1
    assert [d["id"] for d in summary["humaneval"]["leaked"]["HumanEval/0"]] == ["leak-he-0"]
    assert summary["humaneval"]["items_overlapping"] >= 1  # HumanEval/20 shares test lists with HumanEval/0
    assert summary["mbpp"]["items_leaked"] == 1 and summary["mbpp"]["documents"] == 2
    assert sorted(d["id"] for d in summary["mbpp"]["leaked"]["11"]) == ["leak-mbpp-11", "leak-mbpp-11-bis"]
    report = run_cli("report", out).stdout
    assert "decontamination audit" in report and "HumanEval/0: leak-he-0" in report


def test_index_is_built_once_and_a_new_benchmark_only_adds_its_part(default_input, tmp_path):
    out = tmp_path / "out"
    _input_with_leaks(default_input, tmp_path / "in1", {"a-he-3": "humaneval/HumanEval/3"})

    def pipeline(folder, names):
        return {"name": "d", "inputs": [{"source": "jsonl", "with": {"paths": [str(folder / "*.jsonl.zst")]}}],
                "output": {"dir": str(out)}, "steps": [{"uses": "ngram_decontaminate", "with": {"benchmarks": names}}]}

    run_pipeline_dict(pipeline(tmp_path / "in1", ["humaneval"]))
    parts_dir = out / "state" / "index" / "ngram_decontaminate" / "parts"
    first = {p.name: (p / "part.npz").stat().st_mtime_ns for p in parts_dir.iterdir()}
    assert [n.split("-")[0] for n in first] == ["humaneval"]
    _input_with_leaks(default_input, tmp_path / "in2", {"b-mbpp-2": "mbpp/2", "b-he-3": "humaneval/HumanEval/3"})
    (tmp_path / "in2" / "pallets__itsdangerous.jsonl.zst").unlink()
    (tmp_path / "in2" / "spf13__pflag.jsonl.zst").unlink()
    # a new benchmark set changes the index: the corpus asks for an explicit choice
    with pytest.raises(PipelineRefused, match=r"(?s)steps\[0\] \(ngram_decontaminate\): index settings changed "
                                              r"\(benchmarks: .*--rebuild-index ngram_decontaminate"):
        run_pipeline_dict(pipeline(tmp_path / "in2", ["humaneval", "mbpp"]))
    run_pipeline_dict(pipeline(tmp_path / "in2", ["humaneval", "mbpp"]), rebuild_index=("ngram_decontaminate",))
    second = {p.name: (p / "part.npz").stat().st_mtime_ns for p in parts_dir.iterdir()}
    assert {k: v for k, v in second.items() if k.startswith("humaneval")} == first  # reused, not rewritten
    assert sorted(n.split("-")[0] for n in second) == ["humaneval", "mbpp"]
    audits = sorted((out / "runs").glob("*/steps/ngram_decontaminate/audit/benchmarks.json"))
    assert [a.parts[-5] for a in audits] == ["run-0001", "run-0002", "run-0003"]  # run-0002 rebuilt the index
    built = [orjson.loads(a.read_bytes())["benchmarks"] for a in audits]
    assert built[0]["humaneval"]["built_now"] and not built[1]["humaneval"]["built_now"]
    assert built[1]["mbpp"]["built_now"] and not built[2]["mbpp"]["built_now"]
    reasons = {r["id"]: r["metadata"]["drop.reason"] for r in read_excluded(out)}
    assert reasons == {"a-he-3": "contaminated:humaneval", "b-mbpp-2": "contaminated:mbpp",
                       "b-he-3": "contaminated:humaneval"}


def test_annotate_keeps_flagged_documents(tmp_path):
    problem = load_problems(bench.data_dir())[7]
    docs = [make_doc(problem["full"], "copy"), make_doc("print('hello world')\n", "clean")]
    result = apply_step(_filter(tmp_path, action="annotate"), docs)
    assert [d.id for d in result.kept] == ["copy", "clean"] and result.dropped == []
    meta = result.kept[0].metadata
    assert meta["decontam.items"][0] == "humaneval/HumanEval/7" and meta["decontam.benchmarks"] == ["humaneval"]
    assert meta["decontam.ngrams"] >= meta["decontam.item_ngrams"][0] > 0
    assert "decontam.items" not in result.kept[1].metadata


def test_benchmarks_list_shows_the_bundled_files_with_licences():
    rows = orjson.loads(run_cli("benchmarks", "list", "--json").stdout)
    assert {r["name"]: (r["items"], r["licence"]) for r in rows} == {"humaneval": (164, "MIT"),
                                                                      "mbpp": (974, "CC-BY-4.0")}
    for row in rows:
        licence = Path(row["licence_file"]).read_text()
        assert "Permission" in licence or "CC BY 4.0" in licence


def test_stricter_specificity_rule_drops_generic_loops(checkouts, tmp_path):
    """`min_distinctive_words: 1` also requires a word found in < 10% of reference files: HumanEval/40's
    generic double loop (which flags sympy's crypto.py with the defaults) is then not indexed."""
    host = dict(_repo_files(checkouts))["pallets__itsdangerous:src/itsdangerous/encoding.py"]
    loop = ("def pairs(l):\n    for i in range(len(l)):\n        for j in range(i + 1, len(l)):\n"
            "            yield i, j\n")
    doc = plant(host, loop)
    default = apply_step(_filter(tmp_path / "default"), [make_doc(doc, "loop")])
    assert default.reasons == {"loop": "contaminated:humaneval"}
    strict = apply_step(_filter(tmp_path / "strict", min_distinctive_words=1), [make_doc(doc, "loop")])
    assert strict.dropped == [] and len(strict.kept) == 1
    problem = load_problems(bench.data_dir())[40]
    copy = apply_step(_filter(tmp_path / "strict2", min_distinctive_words=1), [make_doc(problem["full"], "copy")])
    assert copy.dropped[0].metadata["decontam.items"][0] == "humaneval/HumanEval/40"
