"""Pipeline lineage: what built a corpus, and how a new run's pipeline differs from it.

Every run records ``runs/<run>/lineage.json``: the pipeline name, the output format, each input's reading
parameters (not its paths: new paths are how new data comes in), and each step's plugin, parameters, plugin
distribution and version, and persistent-index settings (``Stage.index_settings()``). Executor settings and
parameters marked ``json_schema_extra={"affects_output": False}`` (task counts, concurrency) are left out:
they do not change what a run writes. ``fingerprint`` hashes it all.

``compare`` lists the differences between two lineages by YAML path (``steps[2].with.threshold: 0.7 -> 0.8``);
the runner decides what to do with them (curate/run.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

import orjson
import yaml

from curate import registry
from curate.state import CorpusDir, atomic_write_bytes, join, read_bytes


@dataclass
class StepLineage:
    """What one input or step contributes to a run's results."""

    yaml_path: str
    id: str
    uses: str
    kind: str
    params: dict
    plugin: str  # "<distribution> <version>"
    index: dict | None = None  # persistent-index settings of a Stage, else None


@dataclass
class Lineage:
    """Everything that makes a run's results what they are; ``fingerprint`` hashes it."""

    pipeline: str
    output: dict
    inputs: list[StepLineage]
    steps: list[StepLineage]
    kind: str = "run"  # run | backfill | rebuild
    fingerprint: str = ""
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        if not self.fingerprint:
            self.fingerprint = _hash(self.content())

    def content(self) -> dict:
        """What the fingerprint hashes (not the kind or notes of the run)."""
        return {"pipeline": self.pipeline, "output": self.output,
                "inputs": [_step_content(s) for s in self.inputs], "steps": [_step_content(s) for s in self.steps]}

    def step(self, step_id: str) -> StepLineage | None:
        """The step with this id, or None."""
        return next((s for s in self.steps if s.id == step_id), None)

    def to_json(self) -> bytes:
        """``runs/<run>/lineage.json``."""
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)

    @classmethod
    def from_json(cls, raw: bytes) -> Lineage:
        """Read ``runs/<run>/lineage.json``."""
        data = orjson.loads(raw)
        data["inputs"] = [StepLineage(**s) for s in data["inputs"]]
        data["steps"] = [StepLineage(**s) for s in data["steps"]]
        return cls(**data)


def _step_content(step: StepLineage) -> dict:
    return {"id": step.id, "uses": step.uses, "params": step.params, "plugin": step.plugin}


def _hash(data) -> str:
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


def output_params(params) -> dict:
    """A Params model as JSON, without the fields that do not change results."""
    data = params.model_dump(mode="json")
    for name, info in type(params).model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if extra.get("affects_output") is False:
            data.pop(name, None)
    return data


def _plugin_label(name: str) -> str:
    try:
        return registry.info(name).distribution
    except registry.PluginError:
        return "unknown"


def lineage_of(resolved, kind: str = "run") -> Lineage:
    """The lineage of a validated pipeline."""
    spec = resolved.spec
    inputs = []
    for i, step in enumerate(resolved.inputs):
        params = output_params(step.params)
        params.pop("paths", None)
        inputs.append(StepLineage(f"inputs[{i}]", step.step_id, step.spec.source, "source", params,
                                  _plugin_label(step.spec.source)))
    steps = []
    for step in resolved.steps:
        plugin = step.cls(step.params)
        settings = plugin.index_settings() if hasattr(plugin, "index_settings") else None
        steps.append(StepLineage(step.yaml_path, step.step_id, step.spec.uses, step.cls.kind,
                                 output_params(step.params), _plugin_label(step.spec.uses), settings))
    output = {"format": spec.output.format, "keep_excluded": spec.output.keep_excluded}
    return Lineage(spec.name, output, inputs, steps, kind)


def lineage_path(corpus: CorpusDir, run_id: str) -> str:
    """Where a run's lineage is recorded."""
    return join(corpus.run_dir(run_id), "lineage.json")


def write_lineage(corpus: CorpusDir, run_id: str, lineage: Lineage) -> None:
    """Record a run's lineage (atomically)."""
    atomic_write_bytes(lineage_path(corpus, run_id), lineage.to_json())


def recorded_lineage(corpus: CorpusDir, run_id: str) -> Lineage | None:
    """The lineage a run recorded; for runs made before lineage existed, rebuilt from its resolved pipeline."""
    raw = read_bytes(lineage_path(corpus, run_id))
    if raw:
        return Lineage.from_json(raw)
    resolved_yaml = read_bytes(join(corpus.run_dir(run_id), "pipeline.yaml"))
    if not resolved_yaml:
        return None
    return _lineage_from_resolved_yaml(yaml.safe_load(resolved_yaml),
                                       orjson.loads(read_bytes(join(corpus.run_dir(run_id), "plugins.json")) or b"{}"))


def _lineage_from_resolved_yaml(data: dict, plugins: dict) -> Lineage:
    def label(name: str) -> str:
        return plugins.get(name, {}).get("distribution", "unknown")

    inputs = [StepLineage(f"inputs[{i}]", f"source{i}", item["source"], "source",
                          {k: v for k, v in item.get("with", {}).items() if k != "paths"}, label(item["source"]))
              for i, item in enumerate(data.get("inputs", []))]
    steps = [StepLineage(f"steps[{i}]", item.get("id") or item["uses"], item["uses"],
                         plugins.get(item["uses"], {}).get("kind", "?"), item.get("with", {}), label(item["uses"]))
             for i, item in enumerate(data.get("steps", []))]
    output = {k: data.get("output", {}).get(k) for k in ("format", "keep_excluded")}
    return Lineage(data.get("name", "?"), output, inputs, steps)


# ---- differences ---------------------------------------------------------------------------------------------
@dataclass
class Change:
    """One difference between two lineages, printed as ``<YAML path>: old -> new``."""

    path: str  # YAML path in the new pipeline (or the old one for a removed step)
    what: str  # param | plugin | uses | added | removed | order | input | output
    old: object = None
    new: object = None
    step_id: str | None = None

    def __str__(self) -> str:
        if self.what == "added":
            return f"{self.path}: step '{self.step_id}' ({self.new}) added"
        if self.what == "removed":
            return f"{self.path}: step '{self.step_id}' ({self.old}) removed"
        if self.what == "order":
            return f"steps: order changed from [{', '.join(self.old)}] to [{', '.join(self.new)}]"
        return f"{self.path}: {_show(self.old)} -> {_show(self.new)}"


def _show(value) -> str:
    return "(unset)" if value is _MISSING else orjson.dumps(value).decode()


_MISSING = object()


def compare(old: Lineage, new: Lineage) -> list[Change]:
    """Every difference that changes results, by YAML path of the new pipeline."""
    changes = [Change(f"output.{k}", "output", old.output.get(k), new.output.get(k))
               for k in new.output if old.output.get(k) != new.output.get(k)]
    for i, step in enumerate(new.inputs):
        before = old.inputs[i] if i < len(old.inputs) else None
        if before is None:
            continue  # a new input: new data, read by the same rules as any other input
        changes += _step_changes(before, step, "input")
    old_ids = [s.id for s in old.steps]
    new_ids = [s.id for s in new.steps]
    for step in new.steps:
        before = old.step(step.id)
        if before is None:
            changes.append(Change(step.yaml_path, "added", new=step.uses, step_id=step.id))
        else:
            changes += _step_changes(before, step, "param")
    for step in old.steps:
        if step.id not in new_ids:
            changes.append(Change(step.yaml_path, "removed", old=step.uses, step_id=step.id))
    common_old = [i for i in old_ids if i in new_ids]
    common_new = [i for i in new_ids if i in old_ids]
    if common_old != common_new:
        changes.append(Change("steps", "order", common_old, common_new))
    return changes


def _step_changes(old: StepLineage, new: StepLineage, what: str) -> list[Change]:
    if old.uses != new.uses:
        return [Change(f"{new.yaml_path}.{'source' if what == 'input' else 'uses'}", "uses", old.uses, new.uses,
                       new.id)]
    changes = [Change(f"{new.yaml_path}.with.{path}", what, a, b, new.id)
               for path, a, b in _dict_diff(old.params, new.params)]
    if old.plugin != new.plugin and "unknown" not in (old.plugin, new.plugin):
        changes.append(Change(f"{new.yaml_path} ({new.uses}) plugin", "plugin", old.plugin, new.plugin, new.id))
    return changes


def _dict_diff(old: dict, new: dict, prefix: str = "") -> list[tuple[str, object, object]]:
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, _MISSING), new.get(key, _MISSING)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _dict_diff(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append((f"{prefix}{key}", a, b))
    return out
