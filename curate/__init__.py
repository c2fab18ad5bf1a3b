"""curate: build pretraining corpora for code LLMs the way Seed-Coder did.

This module is curate's public API. Plugins, built-in or third-party, import only the names below; the
import-linter contracts in pyproject.toml keep it so.
"""

from datatrove.data import Document

from curate.gitutil import GitError, list_repositories, open_repository, repo_name, repository_problems, run_git
from curate.indexstore import IndexPart, IndexStore, Snapshot
from curate.io import AtomicFile, JsonlZstShard, doc_to_record, iter_shard, open_shard, record_to_doc
from curate.langmap import UNKNOWN_LANGUAGE, language_for_path, programming_languages
from curate.plugin import (
    Annotator,
    BarrierJob,
    DocumentStep,
    Drop,
    Filter,
    Plugin,
    PluginMetadata,
    PluginParams,
    Reject,
    RunContext,
    Source,
    Stage,
    StageContext,
    Transform,
)
from curate.schema import rename_key
from curate.sources.git_repos import DEFAULT_VENDORED, GitReposSource
from curate.sources.jsonl import JsonlSource
from curate.sources.parquet import ParquetSource
from curate.sources.records import RecordParams, RecordSource, expand_paths
from curate.state import CorpusDir, atomic_write_bytes, file_fingerprint, filesystem, is_local, join, read_bytes
from curate.stepstats import step_accounting, text_bytes

__version__ = "0.1.0"
__all__ = [
    # plugin kinds
    "Annotator", "BarrierJob", "DocumentStep", "Drop", "Filter", "Plugin", "PluginMetadata", "PluginParams",
    "Reject", "RunContext", "Source", "Stage", "StageContext", "Transform", "Document",
    # metadata declarations
    "rename_key",
    # sources and paths
    "DEFAULT_VENDORED", "GitReposSource", "JsonlSource", "ParquetSource", "RecordParams", "RecordSource",
    "expand_paths", "GitError", "list_repositories", "open_repository", "repo_name", "repository_problems", "run_git",
    # languages
    "UNKNOWN_LANGUAGE", "language_for_path", "programming_languages",
    # storage: atomic files, shards, the corpus directory, persistent indexes
    "IndexPart", "IndexStore", "Snapshot", "AtomicFile", "CorpusDir", "JsonlZstShard", "atomic_write_bytes",
    "doc_to_record", "file_fingerprint", "filesystem", "is_local", "iter_shard", "join", "open_shard", "read_bytes",
    "record_to_doc",
    # bookkeeping for steps with their own run loop
    "step_accounting", "text_bytes",
    "__version__",
]
