"""code_heuristics: one drop reason per rule, on real files."""

from __future__ import annotations

from curate.testing import apply_step, make_doc
from curate_plugins.code_heuristics import CodeHeuristics


def test_real_sources_pass_and_each_rule_has_its_reason(checkouts, fixture_data):
    real = (checkouts["pallets__itsdangerous"] / "src/itsdangerous/signer.py").read_text()
    minified = (fixture_data / "tricky/minified/jquery-3.7.1.min.js").read_text()
    pb2 = (fixture_data / "tricky/generated/protobuf_timestamp_pb2.py").read_text()
    migration = (fixture_data / "tricky/generated/django_auth_migration_0001_initial.py").read_text()
    docs = [make_doc(real, "real", lang="python"), make_doc("", "empty"), make_doc("   \n\n", "blank"),
            make_doc(minified, "minified", lang="javascript"), make_doc(pb2, "pb2", lang="python"),
            make_doc(migration, "migration", lang="python", path="django/contrib/auth/migrations/0001_initial.py"),
            make_doc("=" * 60 + "\n", "symbols"),
            make_doc("x" * 2_000_001, "huge"), make_doc(("a" * 150 + "\n") * 10, "wide")]
    result = apply_step(CodeHeuristics(), docs)
    assert [d.id for d in result.kept] == ["real"]
    assert result.reasons == {"empty": "empty", "blank": "empty", "minified": "long_line", "pb2": "generated",
                              "migration": "generated", "symbols": "low_alnum", "huge": "too_large",
                              "wide": "long_mean_line"}
    for doc in result.dropped:
        assert doc.metadata["drop.step"] == "step"


def test_thresholds_and_exempt_languages(fixture_data):
    minified = (fixture_data / "tricky/minified/jquery-3.7.1.min.js").read_text()
    plugin = CodeHeuristics({"skip_langs": ["javascript"], "min_bytes": 10})
    result = apply_step(plugin, [make_doc(minified, "min", lang="javascript"), make_doc("x=1", "tiny")])
    assert [d.id for d in result.kept] == ["min"] and result.reasons == {"tiny": "too_small"}


def test_kinds_of_files_that_are_not_code_to_learn_from(checkouts):
    """drop_kinds on the real files of pallets/itsdangerous and DaveGamble/cJSON: each kind its own reason,
    checked by path before the line rules (a lock file is `lockfile`, not `long_line`); build manifests stay."""
    docs = []
    for name in ("pallets__itsdangerous", "DaveGamble__cJSON"):
        root = checkouts[name]
        for path in sorted(p for p in root.rglob("*") if p.is_file() and ".git" not in p.relative_to(root).parts):
            rel = str(path.relative_to(root))
            try:
                docs.append(make_doc(path.read_text(encoding="utf-8"), f"{name}/{rel}", path=rel))
            except UnicodeDecodeError:
                continue  # binary files never reach a text filter
    kinds = ["lockfile", "image", "tooling", "vendored"]
    reasons = apply_step(CodeHeuristics({"drop_kinds": kinds}), docs).reasons
    assert reasons["pallets__itsdangerous/uv.lock"] == "lockfile"
    assert reasons["pallets__itsdangerous/docs/_static/itsdangerous-logo.svg"] == "image_as_text"
    assert reasons["pallets__itsdangerous/.github/workflows/tests.yaml"] == "tooling_config"
    assert reasons["pallets__itsdangerous/.pre-commit-config.yaml"] == "tooling_config"
    assert "vendored" not in reasons.values()  # neither repository has a vendor folder at HEAD
    for kept in ("pallets__itsdangerous/pyproject.toml", "pallets__itsdangerous/src/itsdangerous/signer.py",
                 "DaveGamble__cJSON/cJSON.c", "DaveGamble__cJSON/CMakeLists.txt"):
        assert kept not in reasons
    assert set(reasons.values()) >= {"lockfile", "image_as_text", "tooling_config"}
    default = apply_step(CodeHeuristics(), docs).reasons  # without drop_kinds: the kinds are not looked at
    assert not {"lockfile", "image_as_text", "tooling_config", "vendored"} & set(default.values())
    vendored = apply_step(CodeHeuristics({"drop_kinds": ["vendored"]}),
                          [make_doc("int x;\n", "v", path="third_party/zlib/zlib.h"),
                           make_doc("var a=1;\n", "m", path="static/app.min.js")]).reasons
    assert vendored == {"v": "vendored", "m": "vendored"}
