"""Detect a repository's licence (SPDX id) from the licence files at its root."""

from __future__ import annotations

import re

LICENSE_FILE = re.compile(r"^(LICEN[CS]E|COPYING|UNLICENSE)([-._][\w.-]*)?$", re.IGNORECASE)

# (SPDX id, phrases that must all appear, lowercased and whitespace-folded)
RULES = [
    ("Apache-2.0", ["apache license", "version 2.0"]),
    ("MIT", ["permission is hereby granted, free of charge"]),
    ("BSD-3-Clause", ["redistribution and use in source and binary forms", "neither the name"]),
    ("BSD-3-Clause", ["redistribution and use in source and binary forms", "names of its contributors"]),
    ("BSD-2-Clause", ["redistribution and use in source and binary forms"]),
    ("GPL-3.0", ["gnu general public license", "version 3"]),
    ("GPL-2.0", ["gnu general public license", "version 2"]),
    ("LGPL-3.0", ["gnu lesser general public license", "version 3"]),
    ("AGPL-3.0", ["gnu affero general public license"]),
    ("MPL-2.0", ["mozilla public license", "2.0"]),
    ("ISC", ["permission to use, copy, modify, and/or distribute this software for any purpose"]),
    ("Unlicense", ["this is free and unencumbered software released into the public domain"]),
    ("Zlib", ["this software is provided 'as-is'", "altered source versions must be plainly marked"]),
]


def classify(text: str) -> str | None:
    """The SPDX id of a licence text, or None when no rule matches."""
    folded = " ".join(text.lower().split())
    for spdx, phrases in RULES:
        if all(p in folded for p in phrases):
            return spdx
    return None


def detect_license(entries, blobs) -> str | None:
    """``entries`` as from ``git ls-tree`` (mode, kind, sha, size, path); ``blobs`` a CatFile."""
    found = []
    for _mode, kind, sha, size, path in entries:
        if "/" in path or kind != "blob" or size > 200_000 or not LICENSE_FILE.match(path):
            continue
        spdx = classify(blobs.read(sha).decode("utf-8", "replace"))
        if spdx and spdx not in found:
            found.append(spdx)
    return " OR ".join(sorted(found)) if found else None
