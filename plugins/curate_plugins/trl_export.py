"""Export synthetic records in the layouts TRL's trainers read (DPO pairs, prompt-completion SFT)."""

from __future__ import annotations

from typing import Literal

import orjson
from pydantic import Field

from curate import AtomicFile, Document, DocumentStep, PluginParams, join
from curate_plugins._synth.extract import render_code
from curate_plugins._synth.records import NAMESPACES

LAYOUTS = {
    # layout: (record kind, {column: metadata key under the namespace})
    "dpo": ("pair", {"prompt": "prompt", "chosen": "chosen", "rejected": "rejected"}),
    "sft": ("sft", {"prompt": "question", "completion": "solution"}),
}


class TrlExport(DocumentStep):
    """Writes the records of a synthetic-data step (``kodcode``, ``codedpo``, ``acecoder``) that reach this point
    of the pipeline in the layout a TRL trainer loads with ``datasets``: ``dpo`` gives ``prompt``, ``chosen``,
    ``rejected`` (``DPOTrainer``'s standard preference layout) from the step's pairs; ``sft`` gives ``prompt`` and
    ``completion`` (``SFTTrainer``'s prompt-completion layout, the solution fenced as code) from its SFT records.
    Each row also has the document ``id``. Put it last, after ``ngram_decontaminate`` and any other filter, so
    the export holds exactly what the corpus keeps. Documents pass through unchanged. Files:
    ``<dir>/<layout>-<run id>-<rank>.jsonl``, written atomically when the task ends, so an incremental run adds
    files and a rerun of a task rewrites the same one. In the default ``<output dir>/trl`` they are published with
    the run's output (a failed run adds none; ``curate rollback`` removes the run's files); load them all with
    ``datasets.load_dataset("json", data_files="<dir>/*.jsonl")``.
    """

    kind = "annotator"

    class Params(PluginParams):
        namespace: Literal[NAMESPACES] = Field(..., description="The step whose records are "
                                                                                      "exported.")
        layout: Literal["dpo", "sft"] = Field("dpo", description="`dpo`: prompt, chosen, rejected (pairs); `sft`: "
                                                                 "prompt, completion (SFT records).")
        dir: str | None = Field(None, description="Export directory; None: `<output dir>/trl`, published with the "
                                                  "run (rollback removes the run's files). A directory you name "
                                                  "is written directly.")

    def _process(self, doc: Document):
        return (doc,)

    def run(self, data, rank: int = 0, world_size: int = 1):
        record, columns = LAYOUTS[self.params.layout]
        ns = self.params.namespace
        out = None
        try:
            for doc in super().run(data, rank, world_size):
                if doc.metadata.get(f"{ns}.record") == record:
                    row = {"id": doc.id, **{col: doc.metadata.get(f"{ns}.{key}", "") for col, key in columns.items()}}
                    if self.params.layout == "sft":
                        row["completion"] = render_code(str(row["completion"]))
                    out = out or AtomicFile(self._path(rank))
                    out.handle.write(orjson.dumps(row) + b"\n")
                yield doc
        except BaseException:
            if out is not None:
                out.discard()
            raise
        if out is not None:
            out.commit()

    def _path(self, rank: int) -> str:
        filename = f"{self.params.layout}-{self.context.run_id}-{rank:05d}.jsonl"
        if self.params.dir:
            return join(self.params.dir, filename)
        return self.context.export_path("trl", filename)
