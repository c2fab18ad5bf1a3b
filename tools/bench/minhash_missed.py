"""Why does ``minhash_dedup`` miss a planted pair that a reference finds? Used by ``bench_minhash.py --explain``.

It recomputes, in this process and with the stage's own hashing, what the stage saw: every document's LSH band
keys (in the stage's item order: shard files sorted, then line order; ``keep: first``), the buckets, and the
exact Jaccard similarity of the shingle sets the stage verifies with. Each missed pair gets one reason:

- ``no shared band``: the two documents share no LSH band key under our permutations, and neither has a
  bucket partner that is itself a near-duplicate. LSH misses such a pair by chance (at J = 0.72, 32 x 8 misses
  9%); a reference draws its own permutations and may collide where ours did not, or drop one of the two
  through an unverified chain of collisions.
- ``never compared``: they share a band key (or one of them shares one with another near-duplicate), but the
  candidate pairs the stage formed in those buckets did not include a pair that verification accepts.
- ``verification``: the stage compared them and its verification rejected the pair.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import orjson


def _documents(input_dir: Path) -> list[tuple[str, str]]:
    return [(d["id"], d["text"]) for path in sorted(input_dir.glob("*.jsonl"))
            for d in map(orjson.loads, path.open("rb"))]


def explain(input_dir: Path, info: dict, runs: dict[str, dict], threshold: float, ngram: int,
            layout: tuple[int, int], reference_layout: tuple[int, int], reference_signatures: dict) -> Counter:
    """Print the planted pairs with J >= threshold that ours (band ``layout``) misses and a reference finds,
    with the reason of each; return the count of each reason."""
    from curate_plugins._minhash.hashing import Signer, band_keys, jaccard, shingle_set
    from curate_plugins._minhash.verify import accepts, similarity, sketch
    from curate_plugins.minhash_dedup import MinhashDedup

    params = MinhashDedup({}).params
    bands, rows = layout
    k = params.sketch_size
    docs = _documents(input_dir)
    position = {doc_id: i for i, (doc_id, _) in enumerate(docs)}
    sets = [shingle_set(text, ngram) for _, text in docs]
    keys = np.concatenate([band_keys(Signer(params.num_perm, params.seed).signatures(sets[i:i + 512]), bands, rows)
                           for i in range(0, len(sets), 512)])
    buckets: dict[int, list[int]] = {}
    for item in range(len(docs)):
        if len(sets[item]):
            for key in keys[item].tolist():
                buckets.setdefault(key, []).append(item)  # items in ascending order
    ours = runs["ours"]["dropped"]
    references = {s: r["dropped"] for s, r in runs.items() if s in reference_signatures}
    reasons, lines = Counter(), []
    for pair in info["pairs"]:
        if pair["jaccard"] < threshold or pair["copy"] in ours or pair["source"] in ours:
            continue
        finders = [s for s, dropped in references.items() if pair["copy"] in dropped or pair["source"] in dropped]
        if not finders:
            reasons["missed by every system"] += 1
            continue
        a, b = sorted((position[pair["source"]], position[pair["copy"]]))
        shared = [k for k in set(keys[a].tolist()) & set(keys[b].tolist())]
        formed = any(_compared(buckets[k], a, b) for k in shared)
        estimate, exact = similarity(sketch(sets[a], k), sketch(sets[b], k), k)
        verified = round(estimate, 4)
        partners = _near_partners(a, b, keys, buckets, sets, threshold, jaccard)
        if formed:
            reason = "compared and accepted (?)" if accepts(estimate, exact, threshold, k) else "verification"
        elif shared or partners:
            reason = "never compared"
        else:
            reason = "no shared band"
        reasons[reason] += 1
        sizes = sorted(len(buckets[k]) for k in shared)
        texts = (docs[a][1], docs[b][1])
        direct = [name for name, sign in reference_signatures.items() if _collide(sign, texts, *reference_layout)]
        how = "" if exact else " (estimate)"
        lines.append(f"    J={pair['jaccard']:.3f} verify={verified:.3f}{how} shared bands={len(shared)} bucket "
                     f"sizes={sizes} other near-duplicate partners={partners} found by {'+'.join(finders)} (own band "
                     f"collision: {'+'.join(direct) or 'none'}): {reason}"
                     f" (edits {','.join(pair.get('edits', []))})")
    chosen = [p for p in info["pairs"] if p["jaccard"] >= threshold]
    duel = []
    for name, dropped in references.items():
        only_ours = sum(1 for p in chosen if _found(p, ours) and not _found(p, dropped))
        only_ref = sum(1 for p in chosen if _found(p, dropped) and not _found(p, ours))
        duel.append(f"ours found and {name} missed {only_ours}, {name} found and ours missed {only_ref}")
    print(f"  pairs with J >= {threshold:g}: {'; '.join(duel)}; missed by all: {reasons['missed by every system']}")
    print("\n".join(lines))
    return reasons


def _found(pair: dict, dropped: set) -> bool:
    return pair["copy"] in dropped or pair["source"] in dropped


def _collide(sign, texts: tuple[str, str], bands: int, rows: int) -> bool:
    """Whether a reference's own MinHash values of the two texts share a band."""
    a, b = (sign(t) for t in texts)
    if a is None or b is None:
        return False
    return bool(np.any(np.all((np.asarray(a) == np.asarray(b)).reshape(bands, rows), axis=1)))


def _compared(bucket: list[int], a: int, b: int) -> bool:
    """Whether the stage's bucket pairing (each item with its predecessor and the bucket's first item)
    formed the pair (a, b), a < b."""
    i, j = bucket.index(a), bucket.index(b)
    return j == i + 1 or i == 0


def _near_partners(a: int, b: int, keys: np.ndarray, buckets: dict, sets: list, threshold: float, jaccard) -> int:
    """How many other documents share a band with ``a`` or ``b`` and are near-duplicates (J >= threshold) of it:
    routes by which one of the two could have been dropped."""
    count = 0
    for item in (a, b):
        others = {x for k in keys[item].tolist() for x in buckets.get(k, ()) if x not in (a, b)}
        count += sum(1 for x in others if jaccard(sets[item], sets[x]) >= threshold)
    return count
