"""Turn tests/data/web (pages.warc.gz + manifest.jsonl) into labelled JSONL for `curate train fasttext`.

Reads the WARC with curate's `warc` source, extracts text with `html_extract` (exactly what the pipeline does),
and adds each page's hand label from the manifest (joined on the WARC record id):

    python tools/data/web_labelled_jsonl.py tests/data/web out/web-labelled.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import orjson

from curate.plugin import Reject
from curate.testing import apply_step
from curate_plugins.html_extract import HtmlExtract
from curate_plugins.warc import WarcSource


def labelled_records(web_dir: str | Path) -> list[dict]:
    web_dir = Path(web_dir)
    manifest = {row["warc_record_id"]: row for row in map(json.loads, (web_dir / "manifest.jsonl").open())}
    warc = str(web_dir / "pages.warc.gz")
    docs = [item for item in WarcSource(paths=[warc]).read_shard(warc) if not isinstance(item, Reject)]
    extracted = apply_step(HtmlExtract(), docs)
    if extracted.dropped:
        raise SystemExit(f"extraction dropped {extracted.reasons}")
    return [{"id": manifest[d.id]["id"], "text": d.text, "label": manifest[d.id]["label"],
             "borderline": manifest[d.id]["borderline"], **d.metadata} for d in extracted.kept]


def main(web_dir: str, out: str) -> None:
    rows = labelled_records(web_dir)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    print(f"{len(rows)} labelled pages -> {out}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
