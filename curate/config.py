"""The pipeline file: a pydantic schema, YAML loading, overrides and whole-pipeline validation.

``validate_pipeline`` collects every problem (schema errors, unknown plugins, bad ``with:`` blocks,
missing optional dependencies, plugin-specific checks) and returns them together, each with its YAML path.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from curate import registry


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class InputSpec(Strict):
    source: str = Field(description="Name of a source plugin (see `curate plugins list`).")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with", description="The source's parameters.")


class StepSpec(Strict):
    uses: str = Field(description="Name of the plugin this step runs.")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with", description="The plugin's parameters.")
    id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$",
                           description="Stable id of the step (names its index and stats). Default: the plugin name.")


class OutputSpec(Strict):
    dir: str = Field(description="Corpus directory: data/, excluded/, state/ and runs/ live here.")
    format: Literal["jsonl.zst", "parquet"] = Field("jsonl.zst", description="Format of the output shards.")
    keep_excluded: bool = Field(True, description="Keep the full text of dropped documents in excluded/. "
                                                  "When false, excluded/ still records each id with its reason.")


class LocalExecutorSpec(Strict):
    kind: Literal["local"] = "local"
    workers: int | None = Field(None, ge=1, description="Parallel worker processes. Default: all cores.")


ExecutorSpec = Annotated[Union[LocalExecutorSpec], Field(discriminator="kind")]


class StateSpec(Strict):
    dir: str | None = Field(None, description="State directory. Default: <output.dir>/state.")


class PipelineSpec(Strict):
    name: str = Field(description="Name of the pipeline.")
    description: str | None = None
    inputs: list[InputSpec] = Field(min_length=1, description="Where documents come from.")
    output: OutputSpec
    executor: ExecutorSpec = Field(default_factory=LocalExecutorSpec)
    steps: list[StepSpec] = Field(default_factory=list)
    strict: bool = Field(False, description="Stop at the first bad record instead of excluding it with a reason.")


# ---------------------------------------------------------------------------------------------------------
class ConfigError(Exception):
    def __init__(self, errors: list[str], source: str = "pipeline"):
        self.errors = errors
        super().__init__(f"{source}: {len(errors)} problem(s)\n" + "\n".join(f"  - {e}" for e in errors))


def format_loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            part = "with" if part == "with_" else part
            out += f".{part}" if out else str(part)
    return out


def pydantic_errors(exc: ValidationError, prefix: tuple = ()) -> list[str]:
    errors = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in ("local", "ray", "slurm")
                                                 and prefix == () and err["loc"][0] == "executor"))
        errors.append(f"{format_loc(prefix + loc)}: {err['msg']}")
    return errors


def load_yaml(path: str | Path) -> dict:
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(os.path.expandvars(text))
    except yaml.YAMLError as exc:
        raise ConfigError([f"not valid YAML: {exc}"], str(path)) from exc
    if not isinstance(data, dict):
        raise ConfigError(["the file must hold a mapping with name, inputs, output and steps"], str(path))
    return data


_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def apply_override(data: dict, assignment: str) -> None:
    """Apply ``a.b[0].c=value`` (value parsed as YAML) to a loaded pipeline mapping."""
    if "=" not in assignment:
        raise ConfigError([f"--set {assignment!r}: expected KEY=VALUE, e.g. executor.workers=2"])
    key, raw = assignment.split("=", 1)
    parts = [name if name else int(index) for name, index in _TOKEN.findall(key)]
    node = data
    for part, nxt in zip(parts, parts[1:]):
        if isinstance(part, int):
            node = node[part]
        else:
            node = node.setdefault(part, [] if isinstance(nxt, int) else {})
    node[parts[-1]] = yaml.safe_load(raw)


# ---------------------------------------------------------------------------------------------------------
@dataclass
class ResolvedStep:
    spec: StepSpec | InputSpec
    yaml_path: str
    cls: type
    params: Any
    step_id: str = ""


@dataclass
class ResolvedPipeline:
    spec: PipelineSpec
    inputs: list[ResolvedStep] = field(default_factory=list)
    steps: list[ResolvedStep] = field(default_factory=list)
    raw: dict = field(default_factory=dict)


def _resolve(spec, yaml_path: str, name: str, errors: list[str], want_source: bool):
    try:
        cls = registry.get(name)
    except registry.PluginError as exc:
        errors.append(f"{yaml_path}: {exc}")
        return None
    is_source = getattr(cls, "kind", None) == "source"
    if is_source != want_source:
        what = "a source" if want_source else "a step (filter, annotator, transform or stage)"
        errors.append(f"{yaml_path}: plugin '{name}' is a {getattr(cls, 'kind', '?')}, not {what}")
        return None
    missing = registry.missing_requirements(cls)
    errors.extend(f"{yaml_path}: {m}" for m in missing)
    try:
        params = cls.Params(**spec.with_)
    except ValidationError as exc:
        errors.extend(pydantic_errors(exc, prefix=tuple(_split_path(yaml_path)) + ("with",)))
        return None
    return ResolvedStep(spec, yaml_path, cls, params)


def _split_path(path: str) -> list:
    return [name if name else int(index) for name, index in _TOKEN.findall(path)]


def validate_pipeline(raw: dict, run_checks: bool = True) -> tuple[ResolvedPipeline | None, list[str]]:
    """Validate a loaded pipeline mapping. Returns the resolved pipeline and every problem found."""
    try:
        spec = PipelineSpec.model_validate(raw)
    except ValidationError as exc:
        errors = pydantic_errors(exc)
        # still resolve the plugins we can reach, so that all problems are reported at once
        errors += _resolve_loose(raw)
        return None, errors
    errors: list[str] = []
    resolved = ResolvedPipeline(spec=spec, raw=raw)
    for i, inp in enumerate(spec.inputs):
        step = _resolve(inp, f"inputs[{i}]", inp.source, errors, want_source=True)
        if step:
            step.step_id = f"source{i}" if len(spec.inputs) > 1 else "source"
            resolved.inputs.append(step)
    seen: dict[str, int] = {}
    for i, st in enumerate(spec.steps):
        step = _resolve(st, f"steps[{i}]", st.uses, errors, want_source=False)
        step_id = st.id or st.uses
        if step_id in seen:
            if st.id:
                errors.append(f"steps[{i}].id: '{step_id}' is already used by steps[{seen[step_id]}]")
            step_id = f"{step_id}_{i}"
        seen[step_id] = i
        if step:
            step.step_id = step_id
            resolved.steps.append(step)
    if run_checks and not errors:
        for step in resolved.inputs + resolved.steps:
            for problem in step.cls(step.params).check():
                errors.append(f"{step.yaml_path}.with: {problem}")
    return (resolved if not errors else None), errors


def _resolve_loose(raw: dict) -> list[str]:
    errors: list[str] = []
    for key, want_source, name_key in (("inputs", True, "source"), ("steps", False, "uses")):
        items = raw.get(key)
        if not isinstance(items, list):
            continue
        for i, item in enumerate(items):
            if isinstance(item, dict) and isinstance(item.get(name_key), str):
                with_block = item.get("with") or {}
                if isinstance(with_block, dict):
                    fake = InputSpec.model_construct(source=item[name_key], with_=with_block) if want_source \
                        else StepSpec.model_construct(uses=item[name_key], with_=with_block, id=None)
                    _resolve(fake, f"{key}[{i}]", item[name_key], errors, want_source)
    return errors


def load_pipeline(path: str | Path, overrides: list[str] = ()) -> ResolvedPipeline:
    raw = load_yaml(path)
    for assignment in overrides:
        apply_override(raw, assignment)
    resolved, errors = validate_pipeline(raw)
    if errors:
        raise ConfigError(errors, str(path))
    return resolved
