"""Pack one repository into sequences of at most ``max_tokens`` tokens, files in dependency order.

1. Select the repository (average quality score, number of files), each rule with its own drop reason.
2. Order: files with dependency rules (`lib.code_refs.GRAMMARS`) topologically, then the other files (HTML, SQL,
   Shell, docs, config, ...) in an order shuffled with a seed derived from the repository name.
3. Pack: the whole repository in one sequence when it fits; otherwise its weakly connected components,
   first-fit in order, a component that does not fit being cut into contiguous chunks of its order. A file
   alone larger than a sequence is split into parts (or truncated), recorded in ``pack.oversized``.
4. Render: ``separator`` (with ``{path}``) before each file; file list, order and edges go in metadata.
"""

from __future__ import annotations

import bisect
import random
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field

import xxhash

from curate_plugins._repo_pack.deps import repo_dependencies
from curate_plugins._repo_pack.graph import topological_order, weak_components
from curate_plugins._repo_pack.parse import Parsers, supported
from curate_plugins._repo_pack.tokens import TokenCounter


@dataclass
class RepoFile:
    id: str
    path: str
    lang: str
    text: str
    metadata: dict


@dataclass
class Piece:
    """A file, or one part of a file too large for a sequence."""

    file: RepoFile
    text: str
    tokens: int = 0
    part: int = 0
    parts: int = 1
    handling: str = "whole"


@dataclass
class PackConfig:
    max_tokens: int = 32768
    separator: str = "<|file_sep|>{path}\n"
    tokenizer: str = "builtin"
    oversized: str = "split"  # or "truncate"
    seed: int = 0
    same_package: bool = True
    min_avg_quality: float | None = None
    quality_key: str = "quality.score"
    min_files: int = 1
    max_files: int | None = None


@dataclass
class RepoResult:
    sequences: list[dict] = field(default_factory=list)  # records {id, text, metadata}
    dropped: list[tuple[RepoFile, str]] = field(default_factory=list)
    order: list[str] = field(default_factory=list)
    counts: dict = field(default_factory=dict)


class Timer:
    def __init__(self):
        self.seconds: Counter = Counter()

    @contextmanager
    def __call__(self, phase: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] += time.perf_counter() - start


def select_repository(files: list[RepoFile], cfg: PackConfig) -> str | None:
    """The reason to drop the whole repository, or None to keep it."""
    if len(files) < cfg.min_files:
        return "repo_too_few_files"
    if cfg.max_files is not None and len(files) > cfg.max_files:
        return "repo_too_many_files"
    if cfg.min_avg_quality is not None:
        scores = [float(f.metadata[cfg.quality_key]) for f in files
                  if isinstance(f.metadata.get(cfg.quality_key), (int, float))]
        if scores and sum(scores) / len(scores) < cfg.min_avg_quality:
            return "repo_low_quality"
    return None


class RepoPackerCore:
    """Everything the packer does to one repository. Holds the tokenizer and grammars (create per worker)."""

    def __init__(self, cfg: PackConfig):
        self.cfg = cfg
        self.parsers = Parsers()
        self.tokens = TokenCounter(cfg.tokenizer)
        self.timer = Timer()

    def pack(self, repo: str, files: list[RepoFile]) -> RepoResult:
        result = RepoResult()
        files = self._unique_paths(files, result)
        reason = select_repository(files, self.cfg)
        if reason:
            result.dropped.extend((f, reason) for f in files)
            return result
        by_path = {f.path: f for f in files}
        deps = repo_dependencies({f.path: (f.lang, f.text) for f in files}, self.parsers, self.cfg.same_package,
                                 self.timer, {f.path: f.metadata for f in files})
        with self.timer("graph"):
            ordered, cycles = topological_order(sorted(deps.edges), deps.edges)
            unordered = self._shuffled([f.path for f in files if f.path not in deps.edges], repo)
            result.order = ordered + unordered
        with self.timer("tokenize"):
            pieces = self._pieces([by_path[p] for p in result.order])
        with self.timer("graph"):
            groups = self._groups(pieces, ordered, deps.edges)
            packed = _first_fit(groups, self.cfg.max_tokens)
        with self.timer("write"):
            split = "whole" if len(packed) == 1 else ("components" if all(_whole(g, packed) for g in groups)
                                                      else "chunks")
            result.sequences = self._render(repo, packed, deps, split, cycles, len(files))
        result.counts = {lang: list(v) for lang, v in deps.counts.items()}
        return result

    @staticmethod
    def _unique_paths(files: list[RepoFile], result: RepoResult) -> list[RepoFile]:
        seen, out = set(), []
        for f in sorted(files, key=lambda f: (f.path, f.id)):
            if not f.path:
                result.dropped.append((f, "no_path"))
            elif f.path in seen:
                result.dropped.append((f, "duplicate_path"))
            else:
                seen.add(f.path)
                out.append(f)
        return out

    def _shuffled(self, paths: list[str], repo: str) -> list[str]:
        paths = sorted(paths)
        random.Random(xxhash.xxh64_intdigest(f"{self.cfg.seed}:{repo}".encode())).shuffle(paths)
        return paths

    def header(self, path: str) -> str:
        return self.cfg.separator.replace("{path}", path)

    def _pieces(self, files: list[RepoFile]) -> list[Piece]:
        """Every file as one piece with its token count (separator included); a file larger than a sequence as
        several. One encoding pass: the tokens of an oversized file are kept to find where to cut it."""
        counts, kept = self.tokens.count_keeping([self.header(f.path) + f.text for f in files], self.cfg.max_tokens)
        pieces = []
        for i, (f, n) in enumerate(zip(files, counts)):
            if n <= self.cfg.max_tokens:
                pieces.append(Piece(f, f.text, n))
            else:
                pieces.extend(self._oversized(f, kept.get(i)))
        return pieces

    def _oversized(self, f: RepoFile, tokens=None) -> list[Piece]:
        """Cut a file larger than a sequence into parts that fit, at line ends where possible.

        ``tokens``: the tokens of separator + file (kept from the counting pass). A part whose ends are clean
        cuts (see ``_cut_parts``) is counted from them exactly, without encoding it again."""
        header = self.header(f.path)
        budget = self.cfg.max_tokens - self.tokens.count([header])[0]
        if budget < 16:
            raise ValueError(f"max_tokens={self.cfg.max_tokens} leaves no room after the separator of {f.path!r}")
        layout = self.tokens.layout(header, f.text, tokens)
        starts = layout.starts if layout is not None else self.tokens.token_starts(f.text)
        parts = _cut_parts(f.text, starts, budget - 8)
        if self.cfg.oversized == "truncate":
            parts = parts[:1]
        counts = self._part_counts(header, f.text, parts, layout)
        queue = list(zip([f.text[a:b] for a, b, _ in parts], counts))[::-1]
        fixed_parts, fixed_counts = [], []
        while queue:  # re-encoding a part may add a token or two at its edges: move its tail to a new part
            text, n = queue.pop()
            cut = len(text)
            while n > self.cfg.max_tokens and cut > 1:
                cut = cut * 9 // 10
                n = self.tokens.count([header + text[:cut]])[0]
            if cut < len(text) and self.cfg.oversized == "split":
                queue.append((text[cut:], self.tokens.count([header + text[cut:]])[0]))
            fixed_parts.append(text[:cut])
            fixed_counts.append(n)
        handling = "truncated" if self.cfg.oversized == "truncate" else "split"
        return [Piece(f, text, n, i, len(fixed_parts), handling)
                for i, (text, n) in enumerate(zip(fixed_parts, fixed_counts))]

    def _part_counts(self, header: str, text: str, parts: list[tuple[int, int, bool]], layout) -> list[int]:
        """Tokens of separator + part for each part: from the layout of the whole file when both ends of the part
        are clean (BPE then splits the part exactly as it split the file), else by encoding the part."""
        counts: list[int | None] = [None] * len(parts)
        if layout is not None and header.endswith("\n"):
            alone = self.tokens.count([header + "x"])[0] - 1  # the separator before a part that starts clean
            for i, (a, b, clean) in enumerate(parts):
                start_clean = a == 0 or parts[i - 1][2]
                if clean and start_clean:
                    counts[i] = layout.tokens_before(b) - (layout.tokens_before(a) if a else 0) + (alone if a else 0)
        missing = [i for i, n in enumerate(counts) if n is None]
        for i, n in zip(missing, self.tokens.count([header + text[parts[i][0]:parts[i][1]] for i in missing])):
            counts[i] = n
        return counts

    def _groups(self, pieces: list[Piece], ordered: list[str], edges) -> list[list[Piece]]:
        """Pieces grouped by weakly connected component; files without rules form one group."""
        component = {p: i for i, comp in enumerate(weak_components(ordered, edges)) for p in comp}
        groups: dict[int, list[Piece]] = {}
        for piece in pieces:
            groups.setdefault(component.get(piece.file.path, -1), []).append(piece)
        return list(groups.values())

    def _render(self, repo: str, packed: list[list[Piece]], deps, split: str, cycles, n_files: int) -> list[dict]:
        records = []
        quality = [p.file.metadata.get(self.cfg.quality_key) for seq in packed for p in seq if p.part == 0]
        scores = [q for q in quality if isinstance(q, (int, float))]
        for k, seq in enumerate(packed):
            position = {}
            for i, piece in enumerate(seq):
                position.setdefault(piece.file.path, i)
            edges = sorted((position[p.file.path], position[d]) for p in seq if p.part == 0
                           for d in deps.edges.get(p.file.path, ()) if d in position)
            langs = Counter()
            for piece in seq:
                langs[piece.file.lang] += len(piece.text)
            meta = {
                "repo": repo, "lang": langs.most_common(1)[0][0],
                "pack.index": k, "pack.count": len(packed), "pack.split": split,
                "pack.tokens": sum(p.tokens for p in seq), "pack.max_tokens": self.cfg.max_tokens,
                "pack.files": [p.file.path for p in seq], "pack.file_ids": [p.file.id for p in seq],
                "pack.ordered": [supported(p.file.lang) for p in seq],
                "pack.edges": [list(e) for e in edges], "pack.cycles": len(cycles),
                "pack.imports": {lang: c[:2] for lang, c in sorted(deps.counts.items()) if c[0]},
                "pack.repo_files": n_files, "pack.tokenizer": self.cfg.tokenizer,
                "pack.oversized": [{"path": p.file.path, "handling": p.handling, "part": p.part, "parts": p.parts,
                                    "chars": len(p.file.text)} for p in seq if p.handling != "whole"],
            }
            if scores:
                meta["pack.avg_quality"] = sum(scores) / len(scores)
            text = "".join(self.header(p.file.path) + p.text for p in seq)
            records.append({"id": f"{repo}#pack{k:04d}", "text": text, "metadata": meta})
        return records


def _first_fit(groups: list[list[Piece]], max_tokens: int) -> list[list[Piece]]:
    """Whole repository if it fits; else each group (or contiguous chunks of it) into the first sequence
    with room, sequences listed in the order they were opened."""
    total = sum(p.tokens for g in groups for p in g)
    if total <= max_tokens:
        return [[p for g in groups for p in g]]
    sequences: list[list[Piece]] = []
    room: list[int] = []
    for group in groups:
        floor = 0  # later chunks of a group never go before earlier ones: dependencies stay first
        for chunk in _chunks(group, max_tokens):
            size = sum(p.tokens for p in chunk)
            slot = next((i for i in range(floor, len(room)) if room[i] >= size), None)
            if slot is None:
                sequences.append([])
                room.append(max_tokens)
                slot = len(sequences) - 1
            sequences[slot].extend(chunk)
            room[slot] -= size
            floor = slot
    return sequences


def _chunks(group: list[Piece], max_tokens: int) -> list[list[Piece]]:
    chunks, current, size = [], [], 0
    for piece in group:
        if current and size + piece.tokens > max_tokens:
            chunks.append(current)
            current, size = [], 0
        current.append(piece)
        size += piece.tokens
    if current:
        chunks.append(current)
    return chunks


def _cut_parts(text: str, starts: list[int], budget: int) -> list[tuple[int, int, bool]]:
    """Consecutive parts ``(start, end, clean)`` of ``text`` of about ``budget`` tokens each (from the token start
    offsets). Each cut moves back into the second half of its part, to the last clean line end there (a
    newline between two non-blank characters: the line after it starts in column 0, and BPE splits the text
    there the same way whole or cut), else to the last line end, else it stays at a token start. ``clean``
    tells whether the cut at ``end`` is clean (the last part ends the text: clean). The parts join to ``text``."""
    parts, first, pos = [], 0, 0
    while True:
        end = first + budget
        if end >= len(starts):
            parts.append((pos, len(text), True))
            return parts
        cut = starts[end]
        low = max(pos, starts[first + budget // 2])
        clean = _clean_line_end(text, low, cut)
        newline = text.rfind("\n", low, cut) if clean < 0 else -1
        if clean >= 0 or newline >= 0:
            cut = clean if clean >= 0 else newline + 1
        parts.append((pos, cut, clean >= 0))
        pos = cut
        first = max(first + 1, bisect.bisect_right(starts, cut) - 1)


def _clean_line_end(text: str, low: int, high: int) -> int:
    """The last position p in (low, high] right after a newline with a non-blank character on each side, or -1."""
    newline = text.rfind("\n", low, high)
    while newline > low:
        if newline + 1 < len(text) and not text[newline - 1].isspace() and not text[newline + 1].isspace():
            return newline + 1
        newline = text.rfind("\n", low, newline)
    return -1


def _whole(group: list[Piece], packed: list[list[Piece]]) -> bool:
    ids = {id(p) for p in group}
    return any(ids <= {id(p) for p in seq} for seq in packed)
