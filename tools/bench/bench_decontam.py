"""Benchmark: ngram_decontaminate's per-document lookup vs datatrove's NGramsDecontFilter, same data, same run.

Both index the same benchmark text (bundled HumanEval + MBPP: prompt, solution, tests) with n=10 and scan the
same real code documents on one core, in interleaved rounds (the machine is shared: figures are noisy, and
interleaving exposes both to the same load). datatrove's index is built the way its NGramsDecontIndexer does
(``compute_hashes(label, query)`` with its text normalisation, word tokenizer and xxhash, one
``<task>.index.hashes`` file per task), with the item's solution and tests as the label and its prompt as the
query (find_query_ngrams=True) - but without lighteval, which would download the tasks.

datatrove is measured twice: with its default English word tokenizer (spaCy, what a user gets) and with a
fast regex word tokenizer (its best case). Our figures include the whole filter call: normalisation,
hashing, lookup and metadata.

    .venv/bin/python tools/bench/bench_decontam.py [--corpus 'out/bench-corpus/shard-*.jsonl'] [--mb 20]

Needs the `bench` extra (`pip install -e '.[bench]'`: spaCy for datatrove's default word tokenizer).
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tools/: the benchmark corpus builder
from make_bench_corpus import ensure_corpus  # noqa: E402


def load_docs(pattern: str, limit_mb: float):
    from datatrove.data import Document

    docs, total = [], 0
    for path in sorted(glob.glob(pattern)):
        with open(path, "rb") as handle:
            for line in handle:
                record = orjson.loads(line)
                docs.append(Document(text=record["text"], id=str(record["id"]), metadata={}))
                total += len(record["text"].encode("utf-8", "surrogatepass"))
                if total >= limit_mb * 1e6:
                    return docs, total
    return docs, total


def ours(index_dir: str):
    from curate_plugins._decontam import benchmarks as bench
    from curate_plugins._decontam.index import ensure_part
    from curate_plugins.ngram_decontaminate import DecontaminationFilter, NgramDecontaminate, shape_of

    params = NgramDecontaminate.Params(action="annotate")
    for name in params.benchmarks:
        ensure_part(bench.bundled(name), shape_of(params), index_dir)
    flt = DecontaminationFilter(index_dir, "bench", params)
    flt.setup()
    return flt, lambda doc: "decontam.items" in doc.metadata


def regex_word_tokenizer():
    """A fast datatrove WordTokenizer for its best case: runs of word characters."""
    from datatrove.utils.word_tokenizers import WordTokenizer

    class RegexWordTokenizer(WordTokenizer):
        pattern = re.compile(r"\w+")

        def word_tokenize(self, text):
            return self.pattern.findall(text)

        def sent_tokenize(self, text):
            return [text]

        def span_tokenize(self, text):
            return [(0, len(text))]

    return RegexWordTokenizer("en")


def datatrove_filter(index_dir: str, tokenizer):
    from datatrove.pipeline.decont.n_grams import NGramsDecontConfig, NGramsDecontFilter, NGramsDecontIndexer
    from datatrove.utils.hashing import create_hash_func
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    from curate_plugins._decontam import benchmarks as bench

    config = NGramsDecontConfig(n_grams=10, find_query_ngrams=True, find_overlap_ngrams=True)
    tok = regex_word_tokenizer() if tokenizer == "regex" else load_word_tokenizer("en")
    indexer = type("Indexer", (), {})()  # NGramsDecontIndexer without lighteval: same fields, same method
    indexer.config, indexer.tokenizer, indexer.hash_func = config, tok, _str_hash(create_hash_func(config.hash_config))
    for name in bench.bundled_names():
        hashes = set()
        for _, query, label in _items(bench.bundled(name)):
            hashes.update(NGramsDecontIndexer.compute_hashes(indexer, label, query))
        np.array(sorted(hashes), dtype=config.hash_config.np_descr).tofile(f"{index_dir}/{name}.index.hashes")
    flt = NGramsDecontFilter(index_dir, config=config, language=tok)
    flt.hash_func = _str_hash(flt.hash_func)
    flt.load_index_hashes()
    return flt, lambda doc: "contaminated_task" in doc.metadata


def _str_hash(hash_func):
    """datatrove hashes str with xxhash, which xxhash>=4 refuses (datatrove's extras pin xxhash<4, which
    encoded str as UTF-8 itself): encode first, exactly as xxhash 3 did."""
    return lambda text: hash_func(text.encode("utf-8"))


def _items(spec):
    """(item id, query = prompt, label = solution and tests) per benchmark item."""
    labels = dict(spec.items(["solution", "tests"]))
    for item_id, prompt in spec.items(["prompt"]):
        yield item_id, prompt, labels[item_id]


def time_filter(flt, docs, flagged) -> tuple[float, int]:
    from datatrove.data import Document

    copies = [Document(text=d.text, id=d.id, metadata={}) for d in docs]
    start = time.perf_counter()
    for doc in copies:
        flt.filter(doc)
    return time.perf_counter() - start, sum(1 for d in copies if flagged(d))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=None, help="shard glob (default: out/bench-corpus/shard-*.jsonl, built by "
                    "tools/make_bench_corpus.py on first use)")
    ap.add_argument("--mb", type=float, default=20.0, help="Megabytes of documents to scan per round.")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--skip-spacy", action="store_true", help="Only datatrove with the regex tokenizer.")
    args = ap.parse_args()
    args.corpus = args.corpus or str(ensure_corpus() / "shard-*.jsonl")
    docs, nbytes = load_docs(args.corpus, args.mb)
    if not docs:
        print(f"no documents match {args.corpus}", file=sys.stderr)
        return 1
    print(f"data: {len(docs):,} documents, {nbytes / 1e6:.1f} MB from {args.corpus}; one core; "
          f"{args.rounds} interleaved rounds (shared machine: noisy)")
    with tempfile.TemporaryDirectory() as tmp:
        contenders = {"curate ngram_decontaminate": ours(f"{tmp}/ours")}
        Path(f"{tmp}/dt-regex").mkdir()
        contenders["datatrove NGramsDecontFilter (regex words)"] = datatrove_filter(f"{tmp}/dt-regex", "regex")
        if not args.skip_spacy and importlib.util.find_spec("spacy") is None:
            print("spaCy is not installed (pip install 'curate[bench]'): "
                  "skipping datatrove's default tokenizer")
        elif not args.skip_spacy:
            Path(f"{tmp}/dt-spacy").mkdir()
            contenders["datatrove NGramsDecontFilter (default spaCy words)"] = datatrove_filter(f"{tmp}/dt-spacy", "en")
        index = contenders["curate ngram_decontaminate"][0]._index
        size = index.hashes.nbytes + index.offsets.nbytes + index.items.nbytes + index.bitmap.nbytes
        print(f"our index: {len(index):,} n-grams, {size:,} bytes in memory ({size / len(index):.1f} B/n-gram)")
        seconds = {name: 0.0 for name in contenders}
        flagged = {}
        for _ in range(args.rounds):
            for name, (flt, is_flagged) in contenders.items():
                spent, flagged[name] = time_filter(flt, docs, is_flagged)
                seconds[name] += spent
    print(f"{'':55s} {'docs/s/core':>12s} {'MB/s/core':>10s} {'flagged':>8s}")
    for name, spent in seconds.items():
        print(f"{name:55s} {len(docs) * args.rounds / spent:12,.0f} {nbytes * args.rounds / 1e6 / spent:10.2f} "
              f"{flagged[name]:8d}")
    ours_time = seconds["curate ngram_decontaminate"]
    for name, spent in seconds.items():
        if name.startswith("datatrove"):
            print(f"ratio curate / {name}: {spent / ours_time:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
