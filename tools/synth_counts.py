"""Counts of a synthetic-data run, from its corpus directory (kept and excluded records): questions in,
attempts/samples, passes, difficulty split, pairs out, drop reasons; and one rendered SFT record and DPO pair.

    python tools/synth_counts.py out/synth-kodcode out/synth-codedpo out/synth-acecoder
"""

from __future__ import annotations

import json
import sys
from collections import Counter

from curate.testing import read_corpus, read_excluded


def counts(corpus: str) -> dict:
    kept, excluded = read_corpus(corpus), read_excluded(corpus)
    records = kept + excluded
    ns = next((k.split(".")[0] for r in records for k in r["metadata"] if k.split(".")[0] in
               ("kodcode", "codedpo", "acecoder")), "?")
    inputs = {r["id"].split("/")[0] for r in records}
    out = {"corpus": corpus, "method": ns, "inputs": len(inputs), "kept_records": len(kept),
           "drops": dict(Counter(r["metadata"].get("drop.reason") for r in excluded))}
    per_input = {}
    for r in records:  # one record per input carries the per-input counts
        per_input.setdefault(r["id"].split("/")[0], r["metadata"])
    meta = list(per_input.values())
    if ns == "kodcode":
        out["attempts"] = sum(m.get("kodcode.attempts", 0) for m in meta)
        out["passing_attempts"] = sum(m.get("kodcode.passes", 0) for m in meta)
        out["attempt_statuses"] = dict(Counter(e["status"] for m in meta for e in m.get("kodcode.log", [])))
        out["difficulty"] = dict(Counter(r["metadata"]["kodcode.difficulty"] for r in kept))
    elif ns == "codedpo":
        out["programs"] = sum(m.get("codedpo.solutions", 0) for m in meta)
        out["tests"] = sum(m.get("codedpo.test_cases", 0) for m in meta)
        out["cells"] = sum(len(row) for m in meta for row in m.get("codedpo.matrix", []))
        out["passing_cells"] = sum(sum(row) for m in meta for row in m.get("codedpo.matrix", []))
        out["pairs"] = dict(Counter(r["metadata"].get("codedpo.pair_kind") for r in kept
                                    if r["metadata"].get("codedpo.record") == "pair"))
    elif ns == "acecoder":
        out["tests_generated"] = sum(m.get("acecoder.tests_generated", 0) for m in meta)
        out["tests_kept"] = sum(m.get("acecoder.tests_kept", 0) for m in meta)
        rates = [x for m in meta for x in m.get("acecoder.pass_rates", [])]
        out["programs"] = len(rates)
        out["programs_passing_all"] = sum(1 for x in rates if x == 1.0)
        out["pairs"] = sum(1 for r in kept if r["metadata"].get("acecoder.record") == "pair")
    return out


def main(argv: list[str]) -> None:
    for corpus in argv:
        print(json.dumps(counts(corpus), indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
