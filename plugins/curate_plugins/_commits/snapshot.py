"""The files of a commit's tree, moved from commit to commit by tree diffs, with their BM25 index.

No commit costs a checkout: moving the snapshot from commit A to commit B applies ``diff(tree A, tree B)``
(libgit2 walks only the subtrees that differ). In a linear history B's parent is A, so each step costs one
commit's changes; after a merge or a jump between branches the diff spans more, never the whole tree.
Blobs are read from the object store and tokenised once (cached by blob id).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import pygit2

from curate_plugins._commits.bm25 import IncrementalBM25, apply_delta, diff_delta, path_text, tokenize
from curate_plugins._commits.render import nbytes, truncate

_README = re.compile(r"^readme(\.[A-Za-z0-9]+)?$", re.IGNORECASE)
_UNKNOWN = object()
_ADDED, _DELETED, _MODIFIED = (pygit2.enums.DeltaStatus.ADDED, pygit2.enums.DeltaStatus.DELETED,
                               pygit2.enums.DeltaStatus.MODIFIED)
_SKIP_MODES = (pygit2.enums.FileMode.COMMIT, pygit2.enums.FileMode.LINK)
_SKIP_MODE_TEXT = ("160000", "120000")  # the same modes as git prints them in a patch


@dataclass
class IndexRules:
    max_index_bytes: int  # larger blobs are listed in the tree but not indexed
    excluded: re.Pattern | None  # paths never indexed (vendored, lock files)
    k1: float = 1.5
    b: float = 0.75
    cache_blobs: int = 50_000
    head_bytes: int = 16384  # the most of a file the renderer asks for (README, context file)


class Snapshot:
    """The files (path -> blob id) of one commit, kept up to date incrementally, plus an incremental BM25."""

    def __init__(self, repo: pygit2.Repository, rules: IndexRules, share: Snapshot | None = None):
        self.repo, self.rules = repo, rules
        self.commit: str | None = None
        self._tree: pygit2.Tree | None = None
        self.files: dict[str, str] = {}
        self.index = IncrementalBM25(rules.k1, rules.b)
        # caches by blob id, shared between the snapshots of one repository
        self._tokens: dict[str, Counter | None] = share._tokens if share else {}  # None: not indexed
        self._path_tokens: dict[str, Counter] = share._path_tokens if share else {}
        self._heads: dict[str, tuple[bytes, int]] = share._heads if share else {}  # blob -> (its head, size)
        self._deltas: dict[str, tuple[str, Counter]] = share._deltas if share else {}  # new -> (old, delta)
        self._clips: dict[tuple[str, int, str], tuple[str, int, int]] = share._clips if share else {}
        self._tree_clip: tuple | None = None
        self._paths_changed = True
        self._tree_text: str | None = None
        self._readme: str | None = None

    def diff_to(self, commit: str | None) -> pygit2.Diff | None:
        """The tree diff from this snapshot to ``commit`` (None when one side is empty)."""
        if self.commit is None or commit is None or commit == self.commit:
            return None
        if self._tree is None:
            self._tree = self.repo[self.commit].peel(pygit2.Tree)
        return self.repo.diff(self._tree, self.repo[commit].peel(pygit2.Tree))

    def step_to(self, commit: str, changes: list[dict]) -> bool:
        """Move to ``commit``, a child of this snapshot's commit whose changes (``git_commits``'
        ``commit.files``, the diff against this commit) are known: no tree diff needed. Removals go first, so
        that a path freed by a rename can be taken by another file of the same commit. False (and nothing
        changed) when a change lacks what the move needs."""
        removals, later = [], []
        for change in changes:
            old_ok, new_ok = change["old_mode"] not in _SKIP_MODE_TEXT, change["new_mode"] not in _SKIP_MODE_TEXT
            status, path = change["status"], change["path"]
            old_path = change["old_path"] if status in "RC" else path
            # a pure rename or a mode change prints no index line: the blob is the one the old path had
            new_blob = change["new_blob"] or (self.files.get(old_path) if status in "RCT" else None)
            if status != "D" and new_ok and not new_blob:
                return False
            if status in "MT" and old_ok and new_ok:
                if path not in self.files:
                    return False
                later.append((self._modify, path, self.files[path], new_blob))
                continue
            if status in "DMTR" and old_ok:
                removals.append(old_path)
            if status != "D" and new_ok:
                later.append((self._add, path, new_blob))
        for path in removals:
            self._remove(path)
        for action, *args in later:
            action(*args)
        self.commit = commit
        self._tree = None
        return True

    def relabel(self, commit: str) -> None:
        """Call this the snapshot of ``commit``, whose tree is the current one (a merge that kept these files)."""
        self.commit = commit
        self._tree = None

    def move_to(self, commit: str | None, diff: pygit2.Diff | None = None) -> None:
        """Make this the snapshot of ``commit`` (None: the empty tree before a root commit).

        ``diff``: ``self.diff_to(commit)`` when the caller already computed it."""
        if commit == self.commit:
            return
        if self.commit is None:
            if commit is not None:
                self._add_tree(self.repo[commit].peel(pygit2.Tree), "")
        elif commit is None:
            for path in list(self.files):
                self._remove(path)
        else:
            self._apply(diff if diff is not None else self.diff_to(commit))
        self.commit = commit
        self._tree = None  # read when a diff needs it

    def _add_tree(self, tree: pygit2.Tree, prefix: str) -> None:
        for entry in tree:
            path = prefix + entry.name
            if entry.type_str == "tree":
                self._add_tree(self.repo[entry.id], path + "/")
            elif entry.filemode not in _SKIP_MODES:
                self._add(path, str(entry.id))

    def _apply(self, diff: pygit2.Diff) -> None:
        for delta in diff.deltas:
            old, new = delta.old_file, delta.new_file
            if delta.status == _MODIFIED and old.mode not in _SKIP_MODES and new.mode not in _SKIP_MODES:
                self._modify(new.path, str(old.id), str(new.id))
                continue
            if delta.status != _ADDED and old.mode not in _SKIP_MODES:
                self._remove(old.path)
            if delta.status != _DELETED and new.mode not in _SKIP_MODES:
                self._add(new.path, str(new.id))

    def _modify(self, path: str, old_blob: str, new_blob: str) -> None:
        """A file's content changed: update its postings by the learned delta when there is one."""
        self.files[path] = new_blob
        delta = self._delta_between(old_blob, new_blob) if path in self.index.lengths else None
        if delta is not None:
            self.index.update(path, delta)
        else:
            self.index.remove(path)
            self._add(path, new_blob)

    def _delta_between(self, old_blob: str, new_blob: str, depth: int = 64) -> Counter | None:
        """Term-count delta from ``old_blob`` to ``new_blob`` through a chain of learned diffs (the snapshot
        may jump over several commits, forwards or backwards); None when no chain links them."""
        link = self._deltas.get(new_blob)
        if link is not None and link[0] == old_blob:  # the common case: one commit apart
            return link[1]
        for start, end, sign in ((old_blob, new_blob, 1), (new_blob, old_blob, -1)):
            total: Counter = Counter()
            current = end
            for _ in range(depth):
                link = self._deltas.get(current)
                if link is None:
                    break
                total.update(link[1])
                if link[0] == start:
                    if sign < 0:
                        total = Counter({term: -count for term, count in total.items()})
                    return total
                current = link[0]
        return None

    def _add(self, path: str, blob: str) -> None:
        if path not in self.files:
            self._paths_changed = True
        self.files[path] = blob
        counts = self._counts(path, blob)
        if counts is not None:
            path_counts = self._path_tokens.get(path)
            if path_counts is None:
                path_counts = self._path_tokens[path] = tokenize(path_text(path))
            self.index.add(path, counts, path_counts)

    def learn_change(self, path: str, old_blob: str, new_blob: str, hunks: str) -> None:
        """Record how ``new_blob``'s token counts differ from ``old_blob``'s (from the diff): cheaper than
        tokenising the whole new file when the snapshot later moves past this change. The new counts are
        derived only when a snapshot needs them whole (``_counts``); git's deltas are exact, so they always fit."""
        if not hunks or new_blob in self._tokens or new_blob in self._deltas:
            return
        if self._tokens.get(old_blob) is None and old_blob not in self._deltas:
            return  # the old counts are unknown (or the old version is not indexed)
        if len(self._deltas) >= self.rules.cache_blobs:
            self._tokens.clear()
            self._deltas.clear()
            return
        self._deltas[new_blob] = (old_blob, diff_delta(hunks))

    def _derived(self, blob_id: str) -> Counter | None:
        """The counts of a blob known only through a chain of learned deltas (None if the chain breaks)."""
        chain = []
        current = blob_id
        while current not in self._tokens:
            link = self._deltas.get(current)
            if link is None:
                return None
            chain.append(link[1])
            current = link[0]
        counts = self._tokens[current]
        for delta in reversed(chain):
            if counts is None:
                return None
            counts = apply_delta(counts, delta)
        return counts

    def _remove(self, path: str) -> None:
        if self.files.pop(path, None) is not None:
            self._paths_changed = True
            self.index.remove(path)

    def _counts(self, path: str, blob_id: str) -> Counter | None:
        rules = self.rules
        if rules.excluded is not None and rules.excluded.search(path):
            return None
        cached = self._tokens.get(blob_id, _UNKNOWN)
        if cached is _UNKNOWN and blob_id in self._deltas:
            cached = self._derived(blob_id)
            if cached is not None:
                self._tokens[blob_id] = cached
            else:
                cached = _UNKNOWN
        if cached is _UNKNOWN:
            if len(self._tokens) >= rules.cache_blobs:
                self._tokens.clear()
                self._deltas.clear()
            blob = self.repo[blob_id]
            if blob.size > rules.max_index_bytes or blob.is_binary:
                cached = None
            else:
                data = blob.data
                cached = tokenize(data)
                if blob_id not in self._heads:  # the renderer often shows this version next
                    self._keep_head(blob_id, data, rules.head_bytes)
            self._tokens[blob_id] = cached
        return cached

    # ---- what the renderer reads ---------------------------------------------------------------------
    def text_of(self, path: str) -> str:
        return self.head(path, 1 << 62)[0]

    def head(self, path: str, limit: int) -> tuple[str, int]:
        """The first ``limit`` bytes of a file, decoded (invalid UTF-8 replaced), and the file's size in bytes.

        Only the head is decoded, so a large file costs no more than its budget. The first
        ``rules.head_bytes`` of a blob are kept (by blob id), so the README, asked for with a different
        budget at each commit, is read from the object store once."""
        blob_id = self.files[path]
        found = self._heads.get(blob_id)
        if found is None or (limit > len(found[0]) and found[1] > len(found[0])):
            data = self.repo.odb.read(blob_id)[1]  # the raw content only: half the cost of a Blob object
            found = self._keep_head(blob_id, data, max(limit, self.rules.head_bytes))
        data, size = found
        return (data if size <= limit else data[:limit]).decode("utf-8", "replace"), size

    def _keep_head(self, blob_id: str, data: bytes, keep: int) -> tuple[bytes, int]:
        if len(self._heads) >= 2048:
            self._heads.clear()
        found = self._heads[blob_id] = (data if len(data) <= keep else data[:keep], len(data))
        return found

    def clipped(self, path: str, budget: int, marker: str) -> tuple[str, int, int]:
        """A file cut to ``budget`` UTF-8 bytes with ``marker`` (``render.truncate``): (text, bytes cut, bytes
        used in the sample). Cached by blob and budget: the README and popular files repeat across commits."""
        key = (self.files[path], budget, marker)
        found = self._clips.get(key)
        if found is None:
            if len(self._clips) >= 4096:
                self._clips.clear()
            text, size = self.head(path, budget)
            text, cut = truncate(text, budget, marker, size)
            found = self._clips[key] = (text, cut, nbytes(text) if cut else size)
        return found

    def clipped_tree(self, budget: int, marker: str) -> tuple[str, int, int]:
        """The directory tree cut to ``budget`` bytes: (text, bytes cut, bytes used); cached until paths change."""
        tree = self.tree_text()
        if self._tree_clip is None or self._tree_clip[0] != (tree, budget, marker):
            text, cut = truncate(tree, budget, marker)
            self._tree_clip = ((tree, budget, marker), (text, cut, nbytes(text)))
        return self._tree_clip[1]

    def is_binary(self, path: str) -> bool:
        return self.repo[self.files[path]].is_binary

    def readme_path(self) -> str | None:
        self._refresh_paths()
        return self._readme

    def tree_text(self) -> str:
        self._refresh_paths()
        return self._tree_text

    def _refresh_paths(self) -> None:
        if not self._paths_changed:
            return
        paths = sorted(self.files)
        readmes = sorted((p for p in paths if "/" not in p and _README.match(p)),
                         key=lambda p: (not p.lower().endswith(".md"), p))
        self._readme = readmes[0] if readmes else None
        self._tree_text = render_tree(paths)
        self._paths_changed = False


def render_tree(paths: list[str]) -> str:
    """An indented directory tree of sorted paths (directories end with '/')."""
    lines: list[str] = []
    previous: list[str] = []
    for path in paths:
        parts = path.split("/")
        dirs = parts[:-1]
        common = 0
        while common < len(dirs) and common < len(previous) and dirs[common] == previous[common]:
            common += 1
        for depth in range(common, len(dirs)):
            lines.append("  " * depth + dirs[depth] + "/")
        lines.append("  " * len(dirs) + parts[-1])
        previous = dirs
    return "\n".join(lines)


class SnapshotPool:
    """A few snapshots of one repository sharing their blob caches, one per line of history being walked.

    ``git log --topo-order --reverse`` walks a side branch (or an unrelated history merged in later), then
    comes back to the main line. With one snapshot each such jump would remove the other line's files from
    the index and add them back; here each commit is served by the snapshot whose tree is closest to its
    parent's (fewest changed files), and an unused snapshot is started when every one is far. This is the
    per-snapshot index cache of the issue, kept where it pays: across such jumps.
    """

    def __init__(self, repo: pygit2.Repository, rules: IndexRules, size: int = 2):
        first = Snapshot(repo, rules)
        self.repo = repo
        self.snapshots = [first] + [Snapshot(repo, rules, share=first) for _ in range(size - 1)]
        self._steps: dict[str, tuple[str, list[dict]]] = {}  # commit -> (its only parent, its changes)

    def remember(self, commit: str, parents: list[str], changes: list[dict]) -> None:
        """Record a non-merge commit's changes against its parent: a snapshot at the parent can then move to
        it without a tree diff (the common step of a linear history)."""
        if len(parents) == 1:
            if len(self._steps) >= 256:
                self._steps.clear()
            self._steps[commit] = (parents[0], changes)

    @property
    def primary(self) -> Snapshot:
        return self.snapshots[0]

    def snapshot_for(self, parent: str | None) -> Snapshot:
        """The snapshot of ``parent`` (a commit's pre-commit state), moved there as cheaply as known: by the
        parent's own changes, through a merge that kept one parent's files, or by a tree diff."""
        for snapshot in self.snapshots:
            if snapshot.commit == parent and (parent is not None or not snapshot.files):
                return snapshot
        if parent is None:
            return self._from_nearest(parent)
        found = self._reach(parent)
        if found is not None:
            return found
        parents = [str(p) for p in self.repo[parent].parent_ids]
        twin = self._same_tree_parent(parent, parents)
        if twin is not None:  # most merges keep the files of one parent (the merged branch's tip)
            found = self._reach(twin)
            if found is not None:
                found.relabel(parent)
                return found
        for snapshot in self.snapshots:  # a merge's diff from one of its parents: the nearest but for odd histories
            if snapshot.commit is not None and snapshot.commit in parents:
                snapshot.move_to(parent)
                return snapshot
        return self._from_nearest(parent)

    def _reach(self, commit: str) -> Snapshot | None:
        """A snapshot at ``commit``, or moved there by the known changes of ``commit`` (None otherwise)."""
        for snapshot in self.snapshots:
            if snapshot.commit == commit:
                return snapshot
        step = self._steps.get(commit)
        if step is not None:
            for snapshot in self.snapshots:
                if snapshot.commit == step[0] and snapshot.commit is not None and snapshot.step_to(commit, step[1]):
                    return snapshot
        return None

    def _same_tree_parent(self, commit: str, parents: list[str]) -> str | None:
        """The parent of a merge whose tree is the merge's own (same files), if any."""
        if len(parents) < 2:
            return None
        tree = self.repo[commit].tree_id
        return next((p for p in parents if self.repo[p].tree_id == tree), None)

    def _from_nearest(self, parent: str | None) -> Snapshot:
        """Move the snapshot whose tree is closest to ``parent``'s (fewest changed files) there."""
        best, best_cost, best_diff = None, None, None
        for snapshot in self.snapshots:
            if snapshot.commit is None and not snapshot.files:
                cost, diff = (0 if parent is None else max(len(s.files) for s in self.snapshots)), None
            elif parent is None:
                cost, diff = len(snapshot.files), None
            else:
                diff = snapshot.diff_to(parent)
                cost = len(diff)
            if best_cost is None or cost < best_cost:
                best, best_cost, best_diff = snapshot, cost, diff
        best.move_to(parent, best_diff)
        return best
