"""The installed wheel: plugins under the unique name `curate_plugins`, every subpackage and data file inside."""

from __future__ import annotations

import subprocess
import sys
import zipfile


def test_wheel_has_no_top_level_plugins_package_and_ships_all_files(repo_root, tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path), str(repo_root)], check=True)
    wheel = next(tmp_path.glob("curate-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert not any(n.startswith("plugins/") for n in names)
    source_files = [p for p in (repo_root / "plugins").rglob("*")
                    if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]
    missing = [str(p.relative_to(repo_root)) for p in source_files
               if str(p.relative_to(repo_root / "plugins")) not in names]
    assert missing == []
    core = [p for p in (repo_root / "curate").rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert [str(p) for p in core if "curate/" + str(p.relative_to(repo_root / "curate")) not in names] == []
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[curate.plugins]" in text and "exact_dedup = curate_plugins.exact_dedup:ExactDedup" in text
