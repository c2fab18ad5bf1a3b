"""Build examples/data/web/debian-docs.warc.gz, the embedded default input of pipelines/web_code.yaml.

It copies, byte for byte, the records of tests/data/web/pages.warc.gz whose pages come from Debian
documentation packages with permissive licences (python3.11-doc: PSF-2.0; nodejs-doc: MIT; postgresql-doc-15:
PostgreSQL licence), plus the warcinfo record. Every record of that file is gzipped on its own, so a record
is the byte range between two record offsets.

    python tools/data/make_web_default_input.py tests/data/web examples/data/web
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from fastwarc.warc import ArchiveIterator


def main(web_dir: str, out_dir: str) -> None:
    web, out = Path(web_dir), Path(out_dir)
    manifest = [json.loads(line) for line in (web / "manifest.jsonl").open()]
    keep = {r["warc_record_id"]: r for r in manifest if r["source"].get("kind") == "debian-package"}
    data = (web / "pages.warc.gz").read_bytes()
    with open(web / "pages.warc.gz", "rb") as handle:
        offsets = [(rec.stream_pos, rec.headers.get("WARC-Record-ID"), rec.headers.get("WARC-Type"))
                   for rec in ArchiveIterator(handle, parse_http=False)]
    bounds = [pos for pos, _, _ in offsets[1:]] + [len(data)]
    out.mkdir(parents=True, exist_ok=True)
    chunks = [data[pos:end] for (pos, rid, kind), end in zip(offsets, bounds) if kind == "warcinfo" or rid in keep]
    (out / "debian-docs.warc.gz").write_bytes(b"".join(chunks))
    rows = [keep[rid] for _, rid, _ in offsets if rid in keep]
    (out / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"{len(chunks) - 1} pages -> {out / 'debian-docs.warc.gz'}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
