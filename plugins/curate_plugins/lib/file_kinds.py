"""Path rules for files of a repository that are not code to learn from, shared by the file filters
(``code_heuristics``' ``drop_kinds``) and the commit samples (lock files left out of targets).

Each kind is a list of regular expressions searched in the repository-relative path:

- ``lockfile``: dependency lock files written by package managers (``uv.lock``, ``package-lock.json``, ...);
- ``image``: images stored as text (SVG, PostScript, X and Netpbm bitmaps);
- ``tooling``: continuous-integration, editor and repository-tooling configuration (``.github/``,
  ``.pre-commit-config.yaml``, ``.editorconfig``, ...). Build manifests (``package.json``, ``go.mod``,
  ``Cargo.toml``, ``pyproject.toml``) are not tooling: the repository packer resolves imports with them.
"""

from __future__ import annotations

LOCKFILES = [
    r"(^|/)(package-lock\.json|npm-shrinkwrap\.json|yarn\.lock|pnpm-lock\.yaml|bun\.lockb?|Cargo\.lock|"
    r"poetry\.lock|Pipfile\.lock|uv\.lock|pdm\.lock|composer\.lock|Gemfile\.lock|go\.sum|mix\.lock|"
    r"packages\.lock\.json|Podfile\.lock|pubspec\.lock|flake\.lock|gradle\.lockfile)$"]

IMAGES_AS_TEXT = [r"\.(svg|eps|ps|xpm|xbm|pbm|pgm|ppm)$"]

TOOLING_CONFIG = [
    r"(^|/)\.(github|gitlab|circleci|devcontainer|vscode|idea|husky|buildkite|azure-pipelines)/",
    r"(^|/)\.(editorconfig|gitignore|gitattributes|gitmodules|dockerignore|npmignore|mailmap|travis\.yml|"
    r"pre-commit-config\.ya?ml|pre-commit-hooks\.ya?ml|readthedocs\.ya?ml|clang-format|clang-tidy|coveragerc|"
    r"codecov\.ya?ml|gitlab-ci\.ya?ml|prettierrc[^/]*|eslintrc[^/]*|eslintignore|prettierignore|stylelintrc[^/]*|"
    r"nvmrc|node-version|python-version|ruby-version|tool-versions)$",
    r"(^|/)(appveyor\.ya?ml|codecov\.ya?ml|azure-pipelines\.ya?ml|renovate\.json|\.?dependabot\.ya?ml|"
    r"Jenkinsfile|CODEOWNERS|FUNDING\.yml)$"]

#: kind -> (default path patterns, drop reason)
KINDS: dict[str, tuple[list[str], str]] = {
    "lockfile": (LOCKFILES, "lockfile"),
    "image": (IMAGES_AS_TEXT, "image_as_text"),
    "tooling": (TOOLING_CONFIG, "tooling_config"),
}
