"""Parquet source: one shard per file, read in record batches."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import Field

from curate.plugin import Reject
from curate.sources.records import RecordParams, RecordSource, record_to_document
from curate.state import filesystem


class ParquetSource(RecordSource):
    """Reads Parquet files row by row, with a field mapping (The Stack: ``content``, ``path``, ``repo_name``).

    A row with a missing or null text column becomes a rejected record (``file:row``); an unreadable file
    becomes one rejected record naming the file and the error.
    """

    class Params(RecordParams):
        batch_rows: int = Field(1024, gt=0, description="Rows per record batch read from the file.")

    def read_shard(self, shard: str) -> Iterator:
        """One document per row of a Parquet file, read in record batches."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        fs, path = filesystem(shard)
        row = 0
        try:
            with fs.open(path, "rb") as handle:
                for batch in pq.ParquetFile(handle).iter_batches(batch_size=self.params.batch_rows):
                    for record in batch.to_pylist():
                        row += 1
                        yield record_to_document(self.params, record, shard, row)
        except (pa.ArrowException, OSError) as exc:
            yield Reject("unreadable_file", f"{shard}:{row + 1}", raw=f"{type(exc).__name__}: {exc}")
