"""Repository selection for commit data: stars, forks, commits and active days (Seed-Coder)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from curate import Filter, PluginParams


class RepoSelection(Filter):
    """Keeps documents of repositories with at least ``min_stars`` stars, ``min_forks`` forks, ``min_commits``
    commits and ``min_active_days`` days of activity: Seed-Coder selects commit data from repositories with
    100 stars, 10 forks, 100 commits and 100 days of activity (the defaults).

    Stars and forks come from ``metadata_file`` (JSON Lines: {repo, stars, forks}) or else from the document's
    ``stars``/``forks``. When they are unknown the rule is skipped, or the document is dropped as
    ``no_repo_metadata`` when ``require_metadata``. Commits and active days are computed from the history by
    ``git_commits`` (``activity.commits``: commits reachable from the branches read; ``activity.active_days``: distinct
    UTC calendar days with at least one authored commit, our reading of the paper's "days of activity").
    Drop reasons: ``few_stars``, ``few_forks``, ``few_commits``, ``few_active_days``, ``no_repo_metadata``,
    ``no_repo_activity`` (a document without ``activity.commits``).
    """

    class Params(PluginParams):
        min_stars: int = Field(100, ge=0, description="Minimum GitHub stars (reason `few_stars`).")
        min_forks: int = Field(10, ge=0, description="Minimum forks (reason `few_forks`).")
        min_commits: int = Field(100, ge=0, description="Minimum commits in the history (reason `few_commits`).")
        min_active_days: int = Field(100, ge=0, description="Minimum distinct days with a commit "
                                                            "(reason `few_active_days`).")
        metadata_file: str | None = Field(None, description="JSON Lines, one object per repository: {repo, stars, "
                                                            "forks}. Overrides the documents' own values.")
        require_metadata: bool = Field(False, description="Drop repositories whose stars or forks are unknown "
                                                          "(`no_repo_metadata`) instead of skipping those rules.")

    _lazy_attributes = ("_metadata",)

    def check(self) -> list[str]:
        path = self.params.metadata_file
        return [f"metadata_file: {path} does not exist"] if path and not Path(path).is_file() else []

    def setup(self) -> None:
        self._metadata = {}
        if self.params.metadata_file:
            import orjson

            lines = Path(self.params.metadata_file).read_bytes().splitlines()
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    row = orjson.loads(line)
                    self._metadata[row["repo"]] = row
                except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                    raise ValueError(f"{self.params.metadata_file}:{number}: expected {{repo, stars, forks}}: "
                                     f"{exc}") from exc

    def filter(self, doc):
        p, meta = self.params, doc.metadata
        known = self._metadata.get(meta.get("repo"), {})
        for key, minimum in (("stars", p.min_stars), ("forks", p.min_forks)):
            value = known.get(key, meta.get(key))
            if value is None:
                if p.require_metadata:
                    return False, "no_repo_metadata"
            elif value < minimum:
                return False, f"few_{key}"
        if "activity.commits" not in meta:
            return False, "no_repo_activity"
        if meta["activity.commits"] < p.min_commits:
            return False, "few_commits"
        if meta.get("activity.active_days", 0) < p.min_active_days:
            return False, "few_active_days"
        return True
