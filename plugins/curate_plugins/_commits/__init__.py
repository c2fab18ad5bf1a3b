"""Helpers of the commit plugins (git_commits, repo_selection, commit_to_change_prediction)."""
