"""The pipeline file: a pydantic schema, YAML loading, overrides and whole-pipeline validation.

``validate_pipeline`` collects every problem (schema errors, unknown plugins, bad ``with:`` blocks,
missing optional dependencies, plugin-specific checks) and returns them together, each with its YAML path.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from curate import registry
from curate.state import output_dir_problems


class Strict(BaseModel):
    """A pipeline section: unknown keys are errors, and aliases (`with`) or field names are accepted."""
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class InputSpec(Strict):
    """One entry of `inputs:`: a source plugin and its parameters."""
    source: str = Field(description="Name of a source plugin (see `curate plugins list`).")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with", description="The source's parameters.")


class StepSpec(Strict):
    """One entry of `steps:`: a plugin, its parameters and an optional stable id."""
    uses: str = Field(description="Name of the plugin this step runs.")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with", description="The plugin's parameters.")
    id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$",
                           description="Stable id of the step (names its index and stats). Default: the plugin name.")
    max_error_share: float | None = Field(None, ge=0, le=1, description="This step's limit on the share of "
                                                                       "documents it may fail on (see the top-level "
                                                                       "max_error_share). Default: that one.")
    batch_size: int | None = Field(None, ge=1, description="Documents the plugin receives at once (its filter_batch "
                                                           "or annotate_batch hook). Default: the plugin's own.")


class OutputSpec(Strict):
    """The `output:` section: where the corpus lives and how its shards are written."""
    dir: str = Field(description="Corpus directory: data/, excluded/, state/ and runs/ live here.")
    format: Literal["jsonl.zst", "parquet"] = Field("jsonl.zst", description="Format of the output shards.")
    max_file_mb: float = Field(512, gt=0, description="Size at which output files roll over (data/ and excluded/)."
                                                       " Small input shards are grouped into tasks of about this "
                                                       "much input, so that they share files.")
    keep_excluded: bool = Field(True, description="Keep the full text of dropped documents in excluded/. "
                                                  "When false, excluded/ still records each id with its reason.")


class LocalExecutorSpec(Strict):
    """`executor: {kind: local}`: datatrove's LocalPipelineExecutor on this machine."""
    kind: Literal["local"] = "local"
    workers: int | None = Field(None, ge=1, description="Parallel worker processes. Default: all cores.")


def _step_gpus():
    return Field(default_factory=dict, description="GPUs each task needs, per step id (e.g. {quality_llm: 1}). "
                                                   "A segment holding such a step asks the scheduler for them.")


class _ClusterSpec(Strict):
    gpus: dict[str, Annotated[float, Field(ge=0)]] = _step_gpus()


class RayExecutorSpec(_ClusterSpec):
    """datatrove's RayPipelineExecutor; every Stage barrier becomes a dependent Ray stage."""

    kind: Literal["ray"]
    address: str | None = Field(None, description="Ray cluster to join: `auto` (a cluster started with `ray start`"
                                                  " on this machine), `ray://host:10001` (Ray client) or host:port. "
                                                  "Default: $RAY_ADDRESS, else a new local Ray instance.")
    workers: int | None = Field(None, ge=1, description="Tasks running at once. Default: as many as Ray can place.")
    cpus_per_task: int = Field(1, ge=1, description="CPUs Ray reserves for each task.")
    memory_per_cpu_gb: float = Field(2.0, gt=0, description="Memory Ray reserves per reserved CPU, in GB.")
    runtime_env: dict[str, Any] = Field(default_factory=dict, description="Ray runtime_env used when curate "
                                                                          "connects (env_vars, pip, ...).")


class SlurmExecutorSpec(_ClusterSpec):
    """datatrove's SlurmPipelineExecutor: one sbatch job array per segment, chained with afterok dependencies,
    and a last job that records the run (``curate finish``)."""

    kind: Literal["slurm"]
    partition: str = Field(min_length=1, description="Slurm partition the jobs are submitted to.")
    time: str = Field("24:00:00", pattern=r"^(\d+-)?\d+(:\d{1,2}){0,2}$",
                      description="Time limit of each task, in sbatch --time syntax ([D-]HH:MM:SS, MM, ...).")
    cpus_per_task: int = Field(1, ge=1, description="CPUs per task (sbatch --cpus-per-task).")
    memory_per_cpu_gb: int = Field(2, ge=1, description="Memory per CPU in GB (sbatch --mem-per-cpu).")
    workers: int | None = Field(None, ge=1, description="Tasks of a job array running at once (--array=...%N). "
                                                       "Default: no limit.")
    qos: str | None = Field(None, description="Slurm QOS (sbatch --qos). Default: the partition's default.")
    job_name: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$",
                                 description="Prefix of the job names. Default: the pipeline name.")
    sbatch_args: dict[str, str | int | None] = Field(
        default_factory=dict, description="Further sbatch options, without leading dashes, e.g. "
                                          "{account: myproj, constraint: cpu}. A null value writes a bare flag.")
    env_command: str | None = Field(None, description="Shell line that prepares the Python environment on the "
                                                      "compute nodes. Default: activate the venv running curate.")
    max_array_size: int = Field(1001, ge=1, description="Largest job array the cluster accepts (MaxArraySize).")
    srun: bool = Field(True, description="Start each task with srun inside its job (datatrove's default).")

    @field_validator("sbatch_args")
    @classmethod
    def _option_names(cls, value: dict) -> dict:
        for key in value:
            if not re.fullmatch(r"[a-z][a-z0-9-]*", key):
                raise ValueError(f"sbatch option {key!r}: write the long option name without dashes, e.g. account")
        return value


ExecutorSpec = Annotated[LocalExecutorSpec | RayExecutorSpec | SlurmExecutorSpec, Field(discriminator="kind")]


class StateSpec(Strict):
    """The `state:` section: where the manifest and persistent indexes live."""
    dir: str | None = Field(None, description="State directory. Default: <output.dir>/state.")
    index_history: int = Field(5, ge=0, description="How many of the last runs `curate rollback` can undo one "
                                                    "after another: index parts they need are kept until then.")


class PipelineSpec(Strict):
    """A whole pipeline file, as validated before anything runs."""
    name: str = Field(description="Name of the pipeline.")
    description: str | None = None
    inputs: list[InputSpec] = Field(min_length=1, description="Where documents come from.")
    output: OutputSpec
    executor: ExecutorSpec = Field(default_factory=LocalExecutorSpec)
    state: StateSpec = Field(default_factory=StateSpec, description="Where the manifest and indexes live.")
    steps: list[StepSpec] = Field(default_factory=list)
    strict: bool = Field(False, description="Stop at the first bad record instead of excluding it with a reason.")
    max_error_share: float = Field(0.001, ge=0, le=1, description="A run fails (nothing published, shards not "
                                                                  "consumed) when a step raised on more than this "
                                                                  "share of the documents it saw. Such documents go "
                                                                  "to excluded/ as `error:<Type>` either way.")


# ---------------------------------------------------------------------------------------------------------
class ConfigError(Exception):
    """A pipeline file could not be loaded; carries every problem found, each with its YAML path."""
    def __init__(self, errors: list[str], source: str = "pipeline"):
        self.errors = errors
        super().__init__(f"{source}: {len(errors)} problem(s)\n" + "\n".join(f"  - {e}" for e in errors))


def format_loc(loc: tuple) -> str:
    """A pydantic error location as a YAML path, e.g. `steps[2].with.threshold`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            part = "with" if part == "with_" else part
            out += f".{part}" if out else str(part)
    return out


def pydantic_errors(exc: ValidationError, prefix: tuple = ()) -> list[str]:
    """One `path: message` line per pydantic validation error, paths under `prefix`."""
    errors = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in ("local", "ray", "slurm")
                                                 and prefix == () and err["loc"][0] == "executor"))
        errors.append(f"{format_loc(prefix + loc)}: {err['msg']}")
    return errors


def load_yaml(path: str | Path) -> dict:
    """Read a pipeline file (environment variables expanded) as a mapping, or raise ConfigError."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(os.path.expandvars(text))
    except yaml.YAMLError as exc:
        raise ConfigError([f"not valid YAML: {exc}"], str(path)) from exc
    if not isinstance(data, dict):
        raise ConfigError(["the file must hold a mapping with name, inputs, output and steps"], str(path))
    return data


_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_KEY_PATH = re.compile(r"[^.\[\]=]+(\.[^.\[\]=]+|\[\d+\])*")


def apply_override(data: dict, assignment: str) -> None:
    """Apply ``a.b[0].c=value`` (value parsed as YAML) to a loaded pipeline mapping.

    A list index equal to the list's length appends a new entry, so ``inputs[1].with.paths=[...]`` works; a list
    may also be indexed with a dot (``steps.2.with.x``). A path that does not fit the pipeline is a ConfigError.
    """
    if "=" not in assignment:
        raise ConfigError([f"--set {assignment!r}: expected KEY=VALUE, e.g. executor.workers=2"])
    key, raw = assignment.split("=", 1)
    parts = [name if name else int(index) for name, index in _TOKEN.findall(key)]
    if not _KEY_PATH.fullmatch(key):
        raise ConfigError([f"--set {assignment!r}: {key!r} is not a key path (write e.g. steps[2].with.threshold)"])
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ConfigError([f"--set {assignment!r}: the value is not valid YAML ({first})"]) from exc
    node, walked = data, []
    for part, nxt in zip(parts, parts[1:] + [None]):
        part = _as_index(node, part)
        problem = _step_problem(node, part)
        if problem:
            where = _path_text(walked) or "the pipeline"
            raise ConfigError([f"--set {assignment!r}: cannot set {key}: {where} {problem}"])
        if nxt is None:
            _assign(node, part, value)
            return
        node = _child(node, part, [] if isinstance(nxt, int) else {})
        walked.append(part)


def _as_index(node, part):
    return int(part) if isinstance(node, list) and isinstance(part, str) and part.isdigit() else part


def _step_problem(node, part) -> str | None:
    """Why ``part`` cannot be looked up in ``node``, or None."""
    if isinstance(node, list):
        if not isinstance(part, int):
            return "is a list: index it by number, e.g. [0]"
        if part > len(node):
            return f"has {len(node)} entries: [{part}] is beyond the end (use [{len(node)}] to append)"
        return None
    if isinstance(node, dict):
        return "is a mapping: name a key, not an index" if isinstance(part, int) else None
    return f"is a {type(node).__name__} value ({node!r}), not a mapping or a list"


def _path_text(parts: list) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(parts))


def _child(node, part, empty):
    if isinstance(part, int):
        if part == len(node):
            node.append(empty)
        return node[part]
    if node.get(part) is None:
        node[part] = empty
    return node[part]


def _assign(node, part, value) -> None:
    if isinstance(part, int) and part == len(node):
        node.append(value)
    else:
        node[part] = value


# ---------------------------------------------------------------------------------------------------------
@dataclass
class ResolvedStep:
    """A validated input or step: its spec, YAML path, plugin class and parsed parameters."""
    spec: StepSpec | InputSpec
    yaml_path: str
    cls: type
    params: Any
    step_id: str = ""


@dataclass
class ResolvedPipeline:
    """A validated pipeline: the spec with its inputs and steps resolved to plugin classes."""
    spec: PipelineSpec
    inputs: list[ResolvedStep] = field(default_factory=list)
    steps: list[ResolvedStep] = field(default_factory=list)
    raw: dict = field(default_factory=dict)
    #: problems the run handles itself (``Plugin.warnings``): reported by validate, not fatal
    warnings: list[str] = field(default_factory=list)


def _resolve(spec, yaml_path: str, name: str, errors: list[str], want_source: bool):
    clash = registry.clash_message(name)
    if clash:
        errors.append(f"{yaml_path}.{'source' if want_source else 'uses'}: {clash}")
        return None
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


def validate_pipeline(raw: dict, run_checks: bool = True,
                      warnings: bool = False) -> tuple[ResolvedPipeline | None, list[str]]:
    """Validate a loaded pipeline mapping. Returns the resolved pipeline and every problem found."""
    try:
        spec = PipelineSpec.model_validate(raw)
    except ValidationError as exc:
        errors = pydantic_errors(exc)
        # still resolve the plugins we can reach, so that all problems are reported at once
        errors += _resolve_loose(raw)
        errors += _loose_executor_step_errors(raw)
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
    errors += _executor_step_errors(getattr(spec.executor, "gpus", {}), seen)
    errors += output_dir_problems(spec.output.dir)
    if spec.state.dir:
        errors += output_dir_problems(spec.state.dir, "state.dir")
    if spec.executor.kind == "ray" and importlib.util.find_spec("ray") is None:
        errors.append("executor.kind: module 'ray' is not installed: pip install 'curate[ray]'")
    if not errors:
        errors += _schema_errors(resolved)
    if run_checks and not errors:
        for step in resolved.inputs + resolved.steps:
            plugin = step.cls(step.params)
            errors += [f"{step.yaml_path}.with: {problem}" for problem in plugin.check()]
            if warnings:  # `curate validate` only: they can be slow (bundle checksums), and a run excludes the cause
                resolved.warnings += [f"{step.yaml_path}.with: {problem}" for problem in plugin.warnings()]
    return (resolved if not errors else None), errors


def _schema_errors(resolved: ResolvedPipeline) -> list[str]:
    """Conflicting metadata declarations (one key, two types) would break the output schema."""
    from curate.planner import pipeline_schema
    from curate.schema import SchemaError

    try:
        return pipeline_schema(resolved).errors
    except SchemaError as exc:
        return [str(exc)]


def _executor_step_errors(gpus: dict, step_ids: dict[str, int]) -> list[str]:
    """``executor.gpus`` must name steps of this pipeline."""
    known = ", ".join(step_ids) or "none"
    return [f"executor.gpus.{name}: no step has the id '{name}' (step ids: {known})"
            for name in gpus if name not in step_ids]


def _loose_executor_step_errors(raw: dict) -> list[str]:
    """The ``executor.gpus`` check on a pipeline that failed the schema (so every problem is reported at once)."""
    executor, steps = raw.get("executor"), raw.get("steps")
    if not isinstance(executor, dict) or not isinstance(executor.get("gpus"), dict) or not isinstance(steps, list):
        return []
    ids = {str(s.get("id") or s.get("uses")): i for i, s in enumerate(steps) if isinstance(s, dict)}
    return _executor_step_errors(executor.get("gpus"), ids)


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

