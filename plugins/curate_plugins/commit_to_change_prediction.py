"""Commit -> code-change-prediction sample (Seed-Coder's commit data format)."""

from __future__ import annotations

from typing import Literal

from datatrove.data import Document
from pydantic import BaseModel, Field

from curate import DEFAULT_VENDORED, Drop, PluginMetadata, PluginParams, Transform
from curate_plugins._commits.bm25 import path_text, query_terms
from curate_plugins._commits.render import (
    DEFAULT_DIFF_TEMPLATE,
    DEFAULT_FILE_TEMPLATE,
    DEFAULT_INPUT_TEMPLATE,
    DEFAULT_MARKER,
    DEFAULT_TARGET_TEMPLATE,
    nbytes,
    template_problems,
    truncate,
)
from curate_plugins._commits.repos import git_dir_of
from curate_plugins._commits.sample import (
    DEFAULT_BOT_PATTERNS,
    DEFAULT_LOCKFILES,
    AnyPattern,
    FileRules,
    compile_any,
    file_patches,
    hunks_of,
    message_problem,
    only_reason,
    render_target,
)

_KEEP_META = ("repo", "stars", "forks", "commit.sha", "commit.parents", "commit.author_time", "commit.branch",
              "activity.commits", "activity.active_days")


class CommitToChangePrediction(Transform):
    """Turns a commit (from ``git_commits``) into a code-change-prediction sample, as Seed-Coder does with
    74M commits: the input is the commit message plus context from the pre-commit snapshot (the README, the
    directory tree and the ``top_k`` = 5 files most relevant to the change, retrieved with BM25); the target is
    the paths of the changed files and their unified diffs (git's hunks, ``context_lines`` of context).

    Rendering uses the four documented templates (``docs/commits.md``); ``change.target_start`` gives the
    character offset where the target begins, so a trainer can mask the input. Budgets are in UTF-8 bytes:
    README, tree and each context file are cut to their own budget and then to what is left of
    ``max_context_bytes`` and ``max_sample_bytes``, with ``truncation_marker``; the target is never cut.

    Skips, each with its reason: ``not_a_commit`` (no ``git_commits`` metadata), ``merge_commit``,
    ``empty_message``, ``automated_message`` (``bot_patterns`` on message and author), ``no_changes``,
    ``only_binary`` / ``only_vendored`` / ``only_lockfile`` / ``only_submodule`` / ``only_non_code``,
    ``too_many_files``, ``diff_too_large`` (target over ``max_target_bytes``), ``sample_too_large``
    (message + target over ``max_sample_bytes``).

    Cost: the pre-commit snapshot is moved from the previous commit's by a tree diff, and its BM25 index is
    updated incrementally (blobs tokenised once, cached by id), so no commit costs a checkout or a re-index.
    """

    requires = {"pygit2": "curate[commits]", "bm25s": "curate[commits]"}

    namespace = "change"

    class Metadata(PluginMetadata):
        class File(BaseModel):
            path: str
            old_path: str | None
            status: str

        target_start: int = Field(description="Offset in the text where the target (the patch) starts.")
        paths: list[str] = Field(description="Paths of the changed files in the target.")
        files: list[File] = Field(description="Changed files with their old path and status.")
        omitted_files: dict = Field(description="Changed files left out of the target, path -> category.")
        context_files: list[str] = Field(description="Files given as context.")
        retrieved: list[str] = Field(description="Files the BM25 retrieval returned.")
        retrieval_targets: int = Field(description="Changed files retrieval could have found.")
        retrieval_hits: int = Field(description="Of those, the files it found.")
        truncated: list[str] = Field(description="Parts of the input that were cut to fit.")

    class Params(PluginParams):
        top_k: int = Field(5, ge=0, le=50, description="Number of retrieved context files (Seed-Coder: 5).")
        query: list[Literal["message", "paths"]] = Field(
            default_factory=lambda: ["message", "paths"],
            description="What the BM25 query is built from: the commit message and/or the paths of the changed "
                        "files (see docs/commits.md for the measured recall of each).")
        k1: float = Field(1.5, gt=0, description="BM25 k1 (bm25s' default).")
        b: float = Field(0.75, ge=0, le=1, description="BM25 b (bm25s' default).")
        max_index_bytes: int = Field(200_000, gt=0, description="Files larger than this are not indexed for "
                                                                 "retrieval (they stay in the tree).")
        context_lines: int | None = Field(None, ge=0, le=1000,
                                          description="Context lines of the target diffs. None: the source's "
                                                      "patch as is (git_commits.context_lines, default 3); "
                                                      "another value re-diffs the commit with git.")
        snapshots: int = Field(2, ge=1, le=8, description="Snapshots (each with its BM25 index) kept per "
                                                          "repository, one per line of history being walked.")
        max_message_bytes: int = Field(4096, gt=0, description="The message is cut to this many bytes (marked).")
        max_readme_bytes: int = Field(8192, ge=0, description="The README is cut to this many bytes (marked).")
        max_tree_bytes: int = Field(8192, ge=0, description="The directory tree is cut to this many bytes.")
        max_file_bytes: int = Field(16384, ge=0, description="Each context file is cut to this many bytes.")
        max_context_bytes: int = Field(65536, ge=0, description="README + tree + context files, in bytes.")
        max_target_bytes: int = Field(32768, gt=0, description="Commits whose target (paths + diffs) is larger "
                                                                "are skipped as `diff_too_large`.")
        max_sample_bytes: int = Field(98304, gt=0, description="The whole sample, in bytes: the context shrinks "
                                                                "to fit; if message + target alone do not fit, "
                                                                "`sample_too_large`.")
        min_file_bytes: int = Field(256, ge=0, description="A context file left with less budget than this is "
                                                           "omitted rather than cut to a stub.")
        max_changed_files: int = Field(50, gt=0, description="Commits changing more eligible files are "
                                                             "skipped as `too_many_files`.")
        bot_patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_BOT_PATTERNS),
                                        description="Regular expressions; a message or author matching one is "
                                                    "`automated_message`.")
        vendored: list[str] = Field(default_factory=lambda: list(DEFAULT_VENDORED),
                                    description="Path patterns of vendored code: excluded from target and index.")
        lockfiles: list[str] = Field(default_factory=lambda: list(DEFAULT_LOCKFILES),
                                     description="Path patterns of lock files: excluded from target and index.")
        input_template: str = Field(DEFAULT_INPUT_TEMPLATE, description="Input: {message} {readme} {readme_path} "
                                                                        "{tree} {files}.")
        file_template: str = Field(DEFAULT_FILE_TEMPLATE, description="One context file: {path} {content} "
                                                                      "{rank} {score}.")
        target_template: str = Field(DEFAULT_TARGET_TEMPLATE, description="Target: {paths} {diffs}.")
        diff_template: str = Field(DEFAULT_DIFF_TEMPLATE, description="One file's diff: {old_name} {new_name} "
                                                                      "{path} {old_path} {status} {hunks}.")
        truncation_marker: str = Field(DEFAULT_MARKER, description="Appended where text was cut: {omitted} bytes.")

    _lazy_attributes = ("_state", "_bot", "_rules")

    def check(self) -> list[str]:
        names = ("input_template", "file_template", "target_template", "diff_template", "truncation_marker")
        return [p for name in names for p in template_problems(name, getattr(self.params, name))]

    def setup(self) -> None:
        from curate_plugins._commits.snapshot import IndexRules  # noqa: F401  (imports pygit2 once per worker)

        self._state = None  # (repo path, Snapshot) of the repository being processed
        self._bot = AnyPattern(self.params.bot_patterns) if self.params.bot_patterns else None
        self._rules = FileRules(compile_any(self.params.vendored), compile_any(self.params.lockfiles))

    # ---- the rule ---------------------------------------------------------------------------------------
    def transform(self, doc: Document):
        meta = doc.metadata
        if "commit.sha" not in meta or "commit.repo_path" not in meta:
            return Drop("not_a_commit")  # this step reads documents of the git_commits source
        parents = meta.get("commit.parents") or []
        if len(parents) > 1:
            return Drop("merge_commit")
        self._learn(doc)
        problem = message_problem(meta.get("commit.message") or "", meta.get("commit.author") or "", self._bot)
        if problem:
            return Drop(problem)
        changes = meta.get("commit.files") or []
        if not changes:
            return Drop("no_changes")
        categories = {c["path"]: self._rules.category(c) for c in changes}
        eligible = [c for c in changes if categories[c["path"]] == "code"]
        if not eligible:
            return Drop(only_reason(set(categories.values())))
        if len(eligible) > self.params.max_changed_files:
            return Drop("too_many_files")
        target = self._target(doc, eligible)
        if nbytes(target) > self.params.max_target_bytes:
            return Drop("diff_too_large")
        return self._sample(doc, parents[0] if parents else None, eligible, target, categories)

    def _learn(self, doc: Document) -> None:
        """Tell the snapshot how this commit changes its files' tokens, so that moving past it is cheap."""
        meta = doc.metadata
        files = meta.get("commit.files") or []
        pool = self._snapshot(meta["commit.repo_path"])
        pool.remember(meta["commit.sha"], meta.get("commit.parents") or [], files)
        changes = [c for c in files if c["status"] == "M" and not c["binary"]]
        if changes:
            snapshot = pool.primary  # caches are shared
            for change in changes:
                snapshot.learn_change(change["path"], change["old_blob"], change["new_blob"],
                                      hunks_of(doc.text[change["start"]:change["end"]]))

    def _target(self, doc: Document, eligible: list[dict]) -> str:
        meta = doc.metadata
        git_dir = self._snapshot(meta["commit.repo_path"]).repo.path if self.params.context_lines is not None \
            else None
        sections = file_patches(doc.text, eligible, git_dir, meta["commit.sha"], self.params.context_lines,
                                meta.get("commit.context_lines", 3))
        return render_target(self.params.target_template, self.params.diff_template, eligible, sections)

    def _sample(self, doc, parent, eligible, target, categories):
        p = self.params
        message, cut = truncate(doc.metadata["commit.message"], p.max_message_bytes, p.truncation_marker)
        truncated = ["message"] if cut else []
        empty_input = p.input_template.format_map({"message": message, "readme": "", "readme_path": "", "tree": "",
                                                   "files": ""})
        room = min(p.max_context_bytes, p.max_sample_bytes - nbytes(empty_input) - nbytes(target))
        if room < 0:
            return Drop("sample_too_large")
        snapshot = self._snapshot(doc.metadata["commit.repo_path"]).snapshot_for(parent)
        ranked = self._retrieve(snapshot, doc.metadata["commit.message"], eligible)
        context = self._context(snapshot, ranked, room)
        text_input = p.input_template.format_map({"message": message, **context})
        meta = {k: doc.metadata[k] for k in _KEEP_META if k in doc.metadata}
        indexed = snapshot.index.lengths
        targets = {c["old_path"] for c in eligible if c["status"] != "A" and c.get("old_path") in indexed}
        targets.discard(snapshot.readme_path())
        top = [path for path, _ in ranked]
        meta.update({
            "commit.message": doc.metadata["commit.message"],
            "change.target_start": len(text_input), "change.paths": [c["path"] for c in eligible],
            "change.files": [{"path": c["path"], "old_path": c.get("old_path"), "status": c["status"]}
                             for c in eligible],
            "change.omitted_files": {path: cat for path, cat in categories.items() if cat != "code"},
            "change.context_files": context["_included"], "change.retrieved": top,
            "change.retrieval_targets": len(targets), "change.retrieval_hits": len(targets & set(top)),
            "change.truncated": truncated + context["_truncated"]})
        return [Document(text=text_input + target, id=doc.id, metadata=meta)]

    def _retrieve(self, snapshot, message: str, eligible: list[dict]) -> list[tuple[str, float]]:
        if not self.params.top_k:
            return []
        parts = [message] if "message" in self.params.query else []
        if "paths" in self.params.query:
            for change in eligible:
                parts.append(path_text(change["path"]))
                if change.get("old_path") and change["old_path"] != change["path"]:
                    parts.append(path_text(change["old_path"]))
        query = query_terms("\n".join(parts))
        readme = snapshot.readme_path()  # already in the context: retrieve the top k other files
        ranked = snapshot.index.top(query, self.params.top_k + 1)
        return [(path, score) for path, score in ranked if path != readme][: self.params.top_k]

    def _context(self, snapshot, ranked, room: int) -> dict:
        p = self.params
        marker = p.truncation_marker
        out = {"readme": "", "readme_path": "", "tree": "", "files": "", "_included": [], "_truncated": []}
        readme = snapshot.readme_path()
        if readme:
            room -= nbytes(readme)
            text, cut, used = snapshot.clipped(readme, min(p.max_readme_bytes, room), marker)
            out.update(readme=text, readme_path=readme)
            room -= used
            out["_truncated"] += _cut_note("readme", text, cut)
        tree, cut, used = snapshot.clipped_tree(min(p.max_tree_bytes, max(room, 0)), marker)
        out["tree"] = tree
        room -= used
        out["_truncated"] += _cut_note("tree", tree, cut)
        files = []
        for rank, (path, score) in enumerate(ranked, start=1):
            values = {"path": path, "content": "", "rank": rank, "score": f"{score:.3f}"}
            frame = nbytes(p.file_template.format_map(values))
            budget = min(p.max_file_bytes, room - frame)
            if budget < p.min_file_bytes:
                continue
            content, cut, used = snapshot.clipped(path, budget, marker)
            values["content"] = content
            files.append(p.file_template.format_map(values))
            room -= frame + used
            out["_included"].append(path)
            out["_truncated"] += [f"file:{path}"] if cut else []
        out["files"] = "".join(files)
        return out

    def _snapshot(self, repo_path: str):
        from curate_plugins._commits.snapshot import IndexRules, SnapshotPool

        if self._state is None or self._state[0] != repo_path:
            import pygit2

            repo = pygit2.Repository(git_dir_of(repo_path, self.context.scratch_path("git")))
            excluded = compile_any(self.params.vendored + self.params.lockfiles)
            rules = IndexRules(self.params.max_index_bytes, excluded, self.params.k1, self.params.b,
                               head_bytes=min(max(self.params.max_readme_bytes, self.params.max_file_bytes),
                                              self.params.max_context_bytes, self.params.max_sample_bytes))
            self._state = (repo_path, SnapshotPool(repo, rules, self.params.snapshots))
        return self._state[1]



def _cut_note(name: str, text: str, cut: int) -> list[str]:
    """`name` when it was cut (and marked), `omitted:name` when nothing of it fitted."""
    return [] if not cut else [name] if text else [f"omitted:{name}"]
