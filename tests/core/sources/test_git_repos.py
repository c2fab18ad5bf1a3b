"""The git_repos source on real repositories: files at HEAD, skips with reasons, licence detection."""

from __future__ import annotations

import subprocess

from curate.gitutil import repo_name
from curate.plugin import Reject
from curate.sources.git_repos import GitReposSource, decode_source


def _split(items):
    items = list(items)
    return [i for i in items if not isinstance(i, Reject)], [i for i in items if isinstance(i, Reject)]


def test_bundle_files_at_head_match_git(bundles, checkouts):
    bundle = bundles["pallets__itsdangerous"]
    source = GitReposSource({"paths": [str(bundle)]})
    docs, rejects = _split(source.read_shard(str(bundle)))
    expected = subprocess.run(["git", "-C", str(checkouts["pallets__itsdangerous"]), "ls-files"], check=True,
                              capture_output=True, text=True).stdout.split()
    assert sorted([d.metadata["path"] for d in docs] + [r.metadata["path"] for r in rejects]) == sorted(expected)
    by_path = {d.metadata["path"]: d for d in docs}
    init = by_path["src/itsdangerous/__init__.py"]
    assert init.text == (checkouts["pallets__itsdangerous"] / "src/itsdangerous/__init__.py").read_text()
    assert init.metadata["repo"] == "pallets/itsdangerous" and init.metadata["lang"] == "python"
    assert init.metadata["license"] == "BSD-3-Clause"
    assert init.metadata["source.commit"] == "672971d66a2ef9f85151e53283113f33d642dabd"
    assert init.id == "pallets/itsdangerous:src/itsdangerous/__init__.py"


def test_licences_of_real_repositories(bundles):
    expected = {"pallets__itsdangerous": "BSD-3-Clause", "spf13__pflag": "BSD-3-Clause", "tj__commander.js": "MIT",
                "dtolnay__anyhow": "Apache-2.0 OR MIT", "DaveGamble__cJSON": "MIT", "square__javapoet": "Apache-2.0",
                "jarro2783__cxxopts": "MIT"}
    for name, licence in expected.items():
        source = GitReposSource({"paths": [str(bundles[name])]})
        first = next(d for d in source.read_shard(str(bundles[name])) if not isinstance(d, Reject))
        assert first.metadata["license"] == licence, name


def test_working_copy_with_binary_vendored_oversized_and_symlink(checkouts, tmp_path):
    repo = tmp_path / "demo"
    subprocess.run(["git", "clone", "--quiet", str(checkouts["spf13__pflag"]), str(repo)], check=True)
    (repo / "vendor").mkdir()
    (repo / "vendor" / "lib.go").write_text("package lib\n")
    (repo / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    (repo / "big.go").write_text("// x\n" * 50_000)
    (repo / "latin1.py").write_bytes(b"# -*- coding: latin-1 -*-\nname = 'caf\xe9'\n")
    (repo / "broken.txt").write_bytes(b"caf\xe9 without a cookie\n")
    (repo / "link.go").symlink_to("flag.go")
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"],
                   check=True)
    source = GitReposSource({"paths": [str(repo)], "max_file_bytes": 100_000})
    assert source.list_shards() == [str(repo)]
    docs, rejects = _split(source.read_shard(str(repo)))
    reasons = {r.metadata["path"]: r.reason for r in rejects}
    assert reasons == {"vendor/lib.go": "vendored", "logo.png": "binary", "big.go": "oversized",
                       "broken.txt": "invalid_utf8", "link.go": "symlink"}
    latin = next(d for d in docs if d.metadata["path"] == "latin1.py")
    assert latin.text.endswith("name = 'café'\n") and latin.metadata["source.encoding"] == "latin-1"
    assert repo_name(str(repo)) == "demo"


def test_decode_source_tricky_encodings(fixture_data):
    tricky = fixture_data / "tricky" / "encodings"
    text, enc = decode_source((tricky / "module_koi8_r.py").read_bytes())
    assert enc == "koi8-r" and text is not None
    assert decode_source((tricky / "badsyntax_pep3120.py").read_bytes()) == (None, "unknown")
    # valid UTF-8 with a misspelt cookie ("uft-8") is read as UTF-8: its bytes are unambiguous
    assert decode_source((tricky / "bad_coding.py").read_bytes()) == ("# -*- coding: uft-8 -*-\n", "utf-8")
