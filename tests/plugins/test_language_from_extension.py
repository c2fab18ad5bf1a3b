"""language_from_extension on real repository files."""

from __future__ import annotations

import subprocess

from curate import langmap
from curate.testing import apply_step, make_doc
from curate_plugins.language_from_extension import LanguageFromExtension


def test_covers_seed_coder_scale_language_count():
    assert len(langmap.programming_languages()) >= 89


def test_real_repositories_main_languages(checkouts):
    expected = {"pallets__itsdangerous": "python", "spf13__pflag": "go", "tj__commander.js": "javascript",
                "dtolnay__anyhow": "rust", "DaveGamble__cJSON": "c", "square__javapoet": "java",
                "jarro2783__cxxopts": "cpp"}
    for name, lang in expected.items():
        files = subprocess.run(["git", "-C", str(checkouts[name]), "ls-files"], capture_output=True, text=True,
                               check=True).stdout.split()
        docs = [make_doc("", f, path=f) for f in files]
        result = apply_step(LanguageFromExtension(), docs)
        counts = {}
        for d in result.kept:
            counts[d.metadata["lang"]] = counts.get(d.metadata["lang"], 0) + 1
        top = max((k for k in counts if k in langmap.programming_languages()), key=counts.get)
        assert top == lang, (name, counts)
        assert not result.dropped


def test_filenames_shebang_and_unknown():
    docs = [make_doc("", "1", path="pkg/Makefile"),
            make_doc("#!/usr/bin/env python3\nprint(1)\n", "2", path="bin/tool"),
            make_doc("", "3", path="data/blob.xyz"), make_doc("", "4", path="src/App.TSX"),
            make_doc("", "5", path="x.rs", lang="rust-preset")]
    kept = apply_step(LanguageFromExtension(), docs).kept
    assert [d.metadata["lang"] for d in kept] == ["makefile", "python", "unknown", "tsx", "rust-preset"]
    kept = apply_step(LanguageFromExtension({"overwrite": True}), [make_doc("", "5", path="x.rs", lang="x")]).kept
    assert kept[0].metadata["lang"] == "rust"
