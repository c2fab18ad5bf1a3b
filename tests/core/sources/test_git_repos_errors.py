"""A bad repository is one excluded record, never a crashed run (issue 13, scenario 6): corrupt, truncated and
non-bundle `.bundle` files made from a real bundle, next to a good one."""

from __future__ import annotations

import shutil

from integrity_scenarios import broken_bundles

from curate.gitutil import bundle_problem
from curate.testing import read_corpus, read_excluded, run_cli, run_pipeline_dict


def _pipeline(folder, out) -> dict:
    return {"name": "repos", "inputs": [{"source": "git_repos", "with": {"paths": [str(folder / "*")]}}],
            "output": {"dir": str(out)}, "executor": {"kind": "local", "workers": 1}}


def test_bad_bundles_are_excluded_with_gits_message_and_the_run_goes_on(bundles, tmp_path):
    folder, out = tmp_path / "repos", tmp_path / "out"
    bad = broken_bundles(bundles["pallets__itsdangerous"], folder)
    shutil.copy(bundles["pallets__itsdangerous"], folder)
    result = run_pipeline_dict(_pipeline(folder, out))
    assert result.status == "completed"
    kept = read_corpus(out)
    assert kept and {r["metadata"]["repo"] for r in kept} == {"pallets/itsdangerous"}
    unreadable = {r["id"]: r["metadata"] for r in read_excluded(out)
                  if r["metadata"]["drop.reason"] == "unreadable_repository"}
    assert set(unreadable) == {str(p) for p in bad.values()}
    assert "fatal: early EOF" in unreadable[str(bad["truncated"])]["reject.error"]
    assert "pack has bad object" in unreadable[str(bad["corrupt"])]["reject.error"]
    assert "does not look like a v2 or v3 bundle" in unreadable[str(bad["not_a_bundle"])]["reject.error"]
    assert all(m["repo"].startswith("acme/") for m in unreadable.values())


def test_validate_flags_bad_bundles_one_line_each_without_failing(bundles, tmp_path):
    folder = tmp_path / "repos"
    bad = broken_bundles(bundles["pallets__itsdangerous"], folder)
    shutil.copy(bundles["pallets__itsdangerous"], folder)
    path = tmp_path / "p.yaml"
    path.write_text(str(_pipeline(folder, tmp_path / "out")).replace("'", '"'))
    proc = run_cli("validate", path)
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 3 and "3 warning(s)" in proc.stdout
    assert f"{bad['truncated']}: truncated or corrupt: the pack's checksum does not match" in proc.stderr
    assert f"{bad['not_a_bundle']}: not a git bundle" in proc.stderr
    assert bundle_problem(str(bundles["pallets__itsdangerous"])) is None
