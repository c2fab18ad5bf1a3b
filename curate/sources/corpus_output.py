"""The corpus's own published output as input: what backfill and index-rebuild runs read."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from datatrove.data import Document

from curate.io import iter_shard, record_to_doc
from curate.plugin import PluginParams, Source
from curate.state import CorpusDir, filesystem


class CorpusOutputSource(Source):
    """Reads back the output shards of a corpus's published runs (``data/<run>/part-*``), one shard per file,
    in run then file order. Used by ``curate run --backfill`` and ``--rebuild-index``; not a registered plugin."""

    plugin_name = "corpus_output"
    passes_input_fields = True  # every column the corpus has, declared by the pipeline that wrote it
    keeps_provenance = True

    class Params(PluginParams):
        """The files to read."""

        shards: list[str] = []

    def list_shards(self) -> list[str]:
        """The output files chosen by the runner, in order."""
        return list(self.params.shards)

    def read_shard(self, shard: str) -> Iterator[Document]:
        """The documents of one output file, as they were written."""
        for record in iter_shard(shard):
            yield record_to_doc(record)


def output_shards(corpus: CorpusDir, runs: list[str]) -> list[str]:
    """The published output files of ``runs``, in run then file order."""
    out = []
    for run_id in runs:
        fs, folder = filesystem(corpus.path("data", run_id))
        if not fs.exists(folder):
            continue
        names = sorted(p for p in fs.find(folder) if ".tmp-" not in posixpath.basename(p))
        prefix = "" if "://" not in corpus.root else corpus.root.split("://", 1)[0] + "://"
        out += [prefix + p if prefix and not p.startswith(prefix) else p for p in names]
    return out
