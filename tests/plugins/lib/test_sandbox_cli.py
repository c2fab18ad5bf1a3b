"""``curate exec IN.jsonl -o OUT.jsonl``: one result per input line, bad lines named, the isolation printed."""

from __future__ import annotations

import json

import orjson
import pyarrow.json as paj
from click.testing import CliRunner

from curate.cli import main

MBPP_LIKE = {"id": "mbpp/2", "code": "def similar_elements(a, b):\n    return tuple(set(a) & set(b))\n",
             "tests": ["assert set(similar_elements((3, 4, 5, 6), (5, 7, 4, 10))) == {4, 5}"]}


def test_curate_exec_writes_one_record_per_line(tmp_path):
    lines = [
        orjson.dumps(MBPP_LIKE).decode(),
        orjson.dumps({"id": "wrong", "code": "def f():\n    return 1\n", "tests": ["assert f() == 2"]}).decode(),
        "{not json",
        "",
        orjson.dumps({"id": "no-code", "tests": []}).decode(),
        orjson.dumps({"id": "typo", "code": "x = 1", "test": ["assert x"]}).decode(),
        orjson.dumps([1, 2]).decode(),
        orjson.dumps({"id": 7, "code": "import time\ntime.sleep(60)", "tests": "assert True"}).decode(),
    ]
    source = tmp_path / "in.jsonl"
    source.write_bytes(("\n".join(lines) + "\n").encode() + b'{"id": "bad-utf8", "code": "\xff"}\n')
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(main, ["exec", str(source), "-o", str(out), "--timeout", "1", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert "sandbox isolation:" in result.output and "network:" in result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in records] == ["mbpp/2", "wrong", "line 3", "no-code", "typo", "line 7", "7", "line 9"]
    assert [r["status"] for r in records] == ["pass", "fail", "error", "error", "error", "error", "timeout", "error"]
    assert records[1]["tests"][0]["status"] == "fail" and records[1]["tests"][0]["seconds"] >= 0
    assert records[2]["message"].startswith("line 3: not valid JSON")
    assert "`code` must be a string" in records[3]["message"]
    assert "unknown field(s) test" in records[4]["message"]
    assert "expected a JSON object" in records[5]["message"]
    assert records[7]["message"].startswith("line 9: not valid JSON")
    assert "8 programs" in result.output and "1 pass, 1 fail, 1 timeout, 0 memory, 5 error" in result.output
    table = paj.read_json(str(out))  # readable as a table: one row per input record
    assert table.num_rows == 8 and set(table.column_names) >= {"id", "status", "tests", "stdout", "seconds"}
    assert not list(tmp_path.glob("out.jsonl.tmp*"))


def test_curate_exec_rejects_bad_limits(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(orjson.dumps(MBPP_LIKE).decode() + "\n")
    result = CliRunner().invoke(main, ["exec", str(source), "-o", str(tmp_path / "o.jsonl"), "--timeout", "0"])
    assert result.exit_code == 2 and "--timeout" in result.output
    assert not (tmp_path / "o.jsonl").exists()
