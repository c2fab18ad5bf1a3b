"""The output schema: one column per provenance key and one typed struct per metadata namespace, built from what
the core, the sources and the plugins declare, so that every key has one type across the whole corpus.

In memory a document carries flat dotted keys (``doc.metadata["syntax.error_count"]``). On disk (``data/`` and
``excluded/``, JSON Lines or Parquet alike) a record has the columns, in this order:

- ``id``, ``text``;
- ``source``: struct ``{name, shard, line, ...}``: which input read the document, where;
- provenance columns declared without a namespace: ``repo``, ``path``, ``lang``, ``license``, ``stars``, ``forks``;
- one struct per namespace, in pipeline order (``syntax: {error_count: int64, ...}``), so that the dotted key is
  also the query path (``SELECT syntax.error_count``);
- excluded/ only: ``drop: {reason, step, error}`` and ``reject: {location, error, fields}``;
- ``extra``: a JSON object (as text) of every other key: keys nobody declared (fields a record source copies from
  its input), keys declared with a free-form type (``dict``), and values that do not fit their declared type.

docs/schema.md explains the choices. ``curate plugins show NAME`` prints a plugin's declaration.
"""

from __future__ import annotations

import os
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

import orjson
from pydantic import BaseModel, ConfigDict, Field

#: the type of a key declared with a free-form type (``dict``, ``Any``): stored as JSON inside ``extra``
FREE = "json"
RESERVED = ("id", "text", "extra")
CHECK_ENV = "CURATE_CHECK_METADATA"


class PluginMetadata(BaseModel):
    """Base of a plugin's nested ``Metadata`` model: the metadata keys it writes, under its ``namespace``, with
    their types and descriptions. The output schema and ``curate plugins show`` are built from it."""

    model_config = ConfigDict(extra="forbid")


# ---- what the core declares ---------------------------------------------------------------------------------
class SourceFields(PluginMetadata):
    """``source.*``: where a document was read (every source; the core fills ``name`` and ``shard``)."""

    name: str = Field(description="The source plugin that read the document (`jsonl`, `git_repos`, ...).")
    shard: str = Field(description="The input shard it came from: a file, or a repository.")
    line: int = Field(description="Line (JSON Lines) or row (Parquet) of the record in its shard.")


class Provenance(PluginMetadata):
    """Top-level provenance columns: any source or plugin may fill them."""

    repo: str = Field(description="Repository the document comes from (`owner/name`).")
    path: str = Field(description="File path inside the repository.")
    lang: str = Field(description="Language, from the extension map (`unknown` when it cannot be placed).")
    license: str = Field(description="Licence of the repository (SPDX id) when known.")
    stars: int = Field(description="Repository stars, when the input records them.")
    forks: int = Field(description="Repository forks, when the input records them.")


class DropFields(PluginMetadata):
    """``drop.*`` (excluded/ only): why and where a document was dropped."""

    reason: str = Field(description="The drop reason (`exact_duplicate`, `syntax_error:python`, `error:ValueError`).")
    step: str = Field(description="Id of the step that dropped it (`source` for input records that were rejected).")
    error: str = Field(description="The exception, when a plugin raised on this document.")


class RejectFields(PluginMetadata):
    """``reject.*`` (excluded/ only): input records that could not become documents."""

    location: str = Field(description="`file:line` (or `file:row`, `repo:path`) of the rejected record.")
    error: str = Field(description="What was wrong, in the reader's words.")
    fields: list[str] = Field(description="Fields the record had, when a required one was missing.")


# ---- declarations -> typed fields -------------------------------------------------------------------------------
class SchemaError(ValueError):
    """A declaration has no column type, or two declarations disagree."""


class Mismatch(Exception):
    """A value does not fit its declared type."""


@dataclass(frozen=True)
class OutputField:
    """One declared metadata key: its dotted key, its Arrow type (or ``FREE``), description and declarer."""

    key: str
    type: Any
    description: str = ""
    owner: str = ""

    @property
    def namespace(self) -> str | None:
        """The namespace of the key (``syntax`` for ``syntax.error_count``); None for a top-level key."""
        return self.key.split(".", 1)[0] if "." in self.key else None

    @property
    def name(self) -> str:
        """The key inside its namespace (``error_count``), or the top-level key."""
        return self.key.split(".", 1)[1] if "." in self.key else self.key


def declared_fields(cls) -> dict[str, OutputField]:
    """``namespace`` + nested ``Metadata`` of a plugin class (and ``more_metadata``, namespace -> model, for a
    plugin that writes under several namespaces), as dotted key -> OutputField."""
    owner = getattr(cls, "plugin_name", None) or cls.__name__
    out: dict[str, OutputField] = {}
    model = getattr(cls, "Metadata", None)
    if model is not None:
        out |= model_fields(model, getattr(cls, "namespace", None), owner)
    for namespace, extra in (getattr(cls, "more_metadata", None) or {}).items():
        out |= model_fields(extra, namespace, owner)
    return out


def rename_key(fields: dict[str, OutputField], old: str, new: str) -> dict[str, OutputField]:
    """``fields`` with the declaration of ``old`` moved to key ``new``, for a plugin whose parameter names the key
    it writes (``score_key``)."""
    out = dict(fields)
    field = out.pop(old)
    out[new] = OutputField(new, field.type, field.description, field.owner)
    return out


def model_fields(model: type[BaseModel], namespace: str | None, owner: str) -> dict[str, OutputField]:
    """The fields of a ``PluginMetadata`` model under ``namespace``, as dotted key -> OutputField."""
    out = {}
    for name, info in model.model_fields.items():
        key = f"{namespace}.{name}" if namespace else name
        try:
            arrow = arrow_type(info.annotation)
        except SchemaError as exc:
            raise SchemaError(f"{owner}: metadata key {key}: {exc}") from None
        out[key] = OutputField(key, arrow, info.description or "", owner)
    return out


def arrow_type(annotation) -> Any:
    """The Arrow type of a declared Python annotation (``FREE`` for ``dict``/``Any``)."""
    import pyarrow as pa

    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        kinds = [a for a in args if a is not type(None)]
        if set(kinds) == {int, float}:
            return pa.float64()
        if len(kinds) != 1:
            raise SchemaError(f"a union of {kinds} has no single column type; declare one type")
        return arrow_type(kinds[0])
    if origin is Literal:
        kinds = {type(a) for a in args}
        if len(kinds) != 1:
            raise SchemaError(f"Literal{list(args)} mixes types")
        return arrow_type(kinds.pop())
    if origin in (list, tuple, set, frozenset) or annotation in (list, tuple):
        inner = [a for a in args if a is not Ellipsis]
        if len(inner) != 1:
            raise SchemaError(f"{annotation}: declare the element type, e.g. list[str]")
        element = arrow_type(inner[0])
        if element == FREE:
            raise SchemaError(f"{annotation}: a list of free-form values; declare the element type")
        return pa.list_(element)
    if origin is dict or annotation in (dict, Any, object):
        return FREE
    scalar = {str: pa.string(), int: pa.int64(), float: pa.float64(), bool: pa.bool_()}.get(annotation)
    if scalar is not None:
        return scalar
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        children = []
        for name, info in annotation.model_fields.items():
            child = arrow_type(info.annotation)
            if child == FREE:
                raise SchemaError(f"{annotation.__name__}.{name}: free-form values inside a struct; declare a type")
            children.append(pa.field(name, child))
        return pa.struct(children)
    raise SchemaError(f"no column type for {annotation!r} (use str, int, float, bool, list[...], a model, or dict)")


def type_name(arrow) -> str:
    """A short readable name of a column type: ``float``, ``list[str]``, ``{path: str, status: str}``."""
    import pyarrow as pa

    if arrow == FREE:
        return "json (in extra)"
    if pa.types.is_list(arrow):
        return f"list[{type_name(arrow.value_type)}]"
    if pa.types.is_struct(arrow):
        return "{" + ", ".join(f"{f.name}: {type_name(f.type)}" for f in arrow) + "}"
    return {"string": "str", "int64": "int", "double": "float", "bool": "bool"}.get(str(arrow), str(arrow))


# ---- value conversion ---------------------------------------------------------------------------------------
def converter(arrow):
    """A function that returns a value in the form its column stores, or raises ``Mismatch``."""
    import numpy as np
    import pyarrow as pa

    if arrow == pa.string():
        def to_str(v):
            if isinstance(v, str):
                return str(v) if type(v) is not str else v
            raise Mismatch
        return to_str
    if arrow == pa.int64():
        def to_int(v):
            if type(v) is int or (isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))):
                return int(v)
            raise Mismatch
        return to_int
    if arrow == pa.float64():
        def to_float(v):
            if type(v) is float:
                return v
            if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)):
                return float(v)
            raise Mismatch
        return to_float
    if arrow == pa.bool_():
        def to_bool(v):
            if isinstance(v, (bool, np.bool_)):
                return bool(v)
            raise Mismatch
        return to_bool
    if pa.types.is_list(arrow):
        element = converter(arrow.value_type)

        def to_list(v):
            if not isinstance(v, (list, tuple)):
                raise Mismatch
            return [None if x is None else element(x) for x in v]
        return to_list
    if pa.types.is_struct(arrow):
        children = {f.name: converter(f.type) for f in arrow}

        def to_struct(v):
            if not isinstance(v, dict) or not v.keys() <= children.keys():
                raise Mismatch
            return {name: None if v.get(name) is None else conv(v[name]) for name, conv in children.items()}
        return to_struct
    raise SchemaError(f"no converter for {arrow}")


# ---- the schema of a corpus ---------------------------------------------------------------------------------
CORE_OWNER = "curate"


def core_fields() -> list[OutputField]:
    """What the core declares for every document: ``source.*`` and the provenance columns."""
    return list(model_fields(SourceFields, "source", CORE_OWNER).values()) + \
        list(model_fields(Provenance, None, CORE_OWNER).values())


def excluded_fields() -> list[OutputField]:
    """What the core declares for excluded records: ``drop.*`` and ``reject.*``."""
    return list(model_fields(DropFields, "drop", CORE_OWNER).values()) + \
        list(model_fields(RejectFields, "reject", CORE_OWNER).values())


class CorpusSchema:
    """The columns of ``data/`` (and, with ``drop``/``reject``, of ``excluded/``) for a list of declarations.

    A key declared twice must have the same type both times; a name is either a top-level column or a
    namespace, never both; ``id``, ``text`` and ``extra`` are reserved. ``errors`` lists every conflict.
    """

    def __init__(self, fields: list[OutputField]):
        self.fields: dict[str, OutputField] = {}
        self.errors: list[str] = []
        for field in core_fields() + list(fields) + excluded_fields():
            self._add(field)
        self._check_names()

    def _add(self, field: OutputField) -> None:
        known = self.fields.get(field.key)
        if known is None:
            self.fields[field.key] = field
        elif known.type != field.type:
            self.errors.append(f"metadata key {field.key}: {field.owner} declares {type_name(field.type)} but "
                               f"{known.owner} declares {type_name(known.type)}; one key has one type per corpus")

    def _check_names(self) -> None:
        namespaces: dict[str, list[OutputField]] = {}
        for field in self.fields.values():
            if field.namespace is not None:
                namespaces.setdefault(field.namespace, []).append(field)
        for field in self.fields.values():
            if field.key in RESERVED or field.namespace in RESERVED:
                self.errors.append(f"metadata key {field.key} ({field.owner}): '{field.key.split('.')[0]}' is reserved")
            elif field.namespace is None and field.key in namespaces:
                owners = sorted({f.owner for f in namespaces[field.key]})
                self.errors.append(f"metadata key {field.key} ({field.owner}): '{field.key}' is a namespace (of "
                                   f"{', '.join(owners)}); a top-level key cannot have its name")
            elif field.namespace is None and field.type != FREE and _is_struct(field.type):
                self.errors.append(f"metadata key {field.key} ({field.owner}): a top-level key cannot be a struct; "
                                   "put it under a namespace")

    def columns(self, excluded: bool = False) -> list[tuple[str, Any, list[OutputField]]]:
        """``(column, arrow type, fields)`` in order: id, text, source, provenance, namespaces, [drop, reject],
        extra."""
        import pyarrow as pa

        out: dict[str, list[OutputField]] = {}
        for field in self.fields.values():
            if field.type == FREE or (not excluded and field.namespace in ("drop", "reject")):
                continue
            out.setdefault(field.namespace or field.key, []).append(field)
        order = ["source"] + [c for c, fs in out.items() if fs[0].namespace is None] + \
            [c for c, fs in out.items() if fs[0].namespace not in (None, "source", "drop", "reject")] + \
            (["drop", "reject"] if excluded else [])
        cols = [("id", pa.string(), []), ("text", pa.string(), [])]
        for name in order:
            fs = out[name]
            arrow = fs[0].type if fs[0].namespace is None else pa.struct([pa.field(f.name, f.type) for f in fs])
            cols.append((name, arrow, fs))
        cols.append(("extra", pa.string(), []))
        return cols

    def arrow_schema(self, excluded: bool = False):
        """The Arrow schema of data/ (or of excluded/)."""
        import pyarrow as pa

        return pa.schema([pa.field(name, arrow) for name, arrow, _ in self.columns(excluded)])

    def describe(self) -> dict:
        """A JSON-able description: the columns of data/ and excluded/ with their types, and the declarations."""
        return {"data": {n: str(t) for n, t, _ in self.columns()},
                "excluded": {n: str(t) for n, t, _ in self.columns(excluded=True)},
                "keys": {k: {"type": type_name(f.type), "description": f.description, "declared_by": f.owner}
                         for k, f in sorted(self.fields.items())}}


def _is_struct(arrow) -> bool:
    import pyarrow as pa

    return pa.types.is_struct(arrow)


def compare(old: dict, new: dict) -> list[str]:
    """What changed between two ``describe()`` results, one line per column (empty: the same schema)."""
    changes = []
    for area in ("data", "excluded"):
        a, b = old.get(area, {}), new.get(area, {})
        changes += [f"{area}/: column {c} added ({b[c]})" for c in b if c not in a]
        changes += [f"{area}/: column {c} removed (was {a[c]})" for c in a if c not in b]
        changes += [f"{area}/: column {c} changed from {a[c]} to {b[c]}" for c in a if c in b and a[c] != b[c]]
        if not changes and list(a) != list(b):
            changes.append(f"{area}/: column order changed")
    return changes


# ---- records <-> rows -----------------------------------------------------------------------------------------
class RowEncoder:
    """Turns ``(id, text, metadata)`` into a row of the schema: every column present (null when absent)."""

    def __init__(self, schema: CorpusSchema, excluded: bool = False):
        self.columns = schema.columns(excluded)
        self.template = {name: None for name, _, _ in self.columns}
        self.slots: dict[str, tuple[str, str | None, Any]] = {}
        self.struct_templates: dict[str, dict] = {}
        for name, _, fields in self.columns:
            for f in fields:
                self.slots[f.key] = (name, None if f.namespace is None else f.name, converter(f.type))
            if fields and fields[0].namespace is not None:
                self.struct_templates[name] = {f.name: None for f in fields}

    def encode(self, doc_id: str, text: str, metadata: dict) -> dict:
        """The row of one document: typed columns, and ``extra`` for what has no column or does not fit it."""
        row = self.template.copy()
        row["id"], row["text"] = doc_id, text
        extra = None
        slots = self.slots
        for key, value in metadata.items():
            slot = slots.get(key)
            if slot is None:
                extra = extra or {}
                extra[key] = value
                continue
            if value is None:
                continue
            column, name, convert = slot
            try:
                value = convert(value)
            except Mismatch:
                extra = extra or {}
                extra[key] = value
                continue
            if name is None:
                row[column] = value
            else:
                struct = row[column]
                if struct is None:
                    struct = row[column] = self.struct_templates[column].copy()
                struct[name] = value
        if extra:
            row["extra"] = orjson.dumps(extra, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY,
                                        default=str).decode()
        return row


def decode_row(row: dict) -> dict:
    """A record ``{id, text, metadata: {dotted keys}}`` from a row of the schema (no schema needed to decode it);
    a record of another layout (``{id, text, metadata}`` work files, plain input records) is returned as it is."""
    if "extra" not in row or "text" not in row:
        meta = row.get("metadata")
        return {**row, "metadata": orjson.loads(meta)} if isinstance(meta, str) else row
    metadata: dict = {}
    for column, value in row.items():
        if value is None or column in ("id", "text", "extra"):
            continue
        if type(value) is dict:
            for name, inner in value.items():
                if inner is not None:
                    metadata[f"{column}.{name}"] = inner
        else:
            metadata[column] = value
    extra = row.get("extra")
    if extra:
        metadata.update(orjson.loads(extra))
    return {"id": row["id"], "text": row["text"], "metadata": metadata}


# ---- Hugging Face dataset card: the features of each config -------------------------------------------------
def hf_features(arrow_schema) -> list[dict]:
    """``dataset_info.features`` of a dataset card for an Arrow schema (what ``datasets`` writes itself)."""
    return [{"name": field.name, **_hf_type(field.type)} for field in arrow_schema]


def _hf_type(arrow) -> dict:
    import pyarrow as pa

    if pa.types.is_struct(arrow):
        return {"struct": [{"name": f.name, **_hf_type(f.type)} for f in arrow]}
    if pa.types.is_list(arrow):
        inner = _hf_type(arrow.value_type)
        return {"list": inner["dtype"] if set(inner) == {"dtype"} else inner}
    return {"dtype": {"string": "string", "int64": "int64", "double": "float64", "bool": "bool"}[str(arrow)]}


# ---- the declaration check (tests, and CURATE_CHECK_METADATA=1) ----------------------------------------------
class UndeclaredMetadata(RuntimeError):
    """A step wrote a metadata key it does not declare, or a value of the wrong type."""


class MetadataChecker:
    """Checks that every key a step adds to a document is declared by it, with a value of the declared type."""

    def __init__(self, step_name: str, fields: dict[str, OutputField]):
        self.step_name = step_name
        self.converters = {k: (converter(f.type) if f.type != FREE else None) for k, f in fields.items()}

    def before(self, docs) -> list[dict]:
        """Copies of the documents' metadata before the step runs."""
        return [dict(doc.metadata) for doc in docs]

    def check(self, before: dict, doc) -> None:
        """Raise ``UndeclaredMetadata`` if the step added an undeclared key or a value of the wrong type."""
        for key, value in doc.metadata.items():
            if key.startswith("drop.") or (key in before and before[key] is value):
                continue
            if key not in self.converters:
                raise UndeclaredMetadata(f"{self.step_name} wrote metadata key '{key}', which it does not declare: "
                                         "add it to the plugin's Metadata model (under its namespace)")
            convert = self.converters[key]
            if convert is not None and value is not None:
                try:
                    convert(value)
                except Mismatch:
                    raise UndeclaredMetadata(f"{self.step_name} wrote {key}={value!r} ({type(value).__name__}), "
                                             "which does not fit the type it declares") from None


def checking_enabled() -> bool:
    """True when ``CURATE_CHECK_METADATA=1`` (the test helpers set it)."""
    return os.environ.get(CHECK_ENV) == "1"


def metadata_checker(step) -> MetadataChecker | None:
    """A checker for a document step when ``CURATE_CHECK_METADATA=1`` (the test helpers set it), else None."""
    if not checking_enabled():
        return None
    fields = step.declared if getattr(step, "declared", None) is not None else step.output_fields()
    name = f"step '{step.context.step_id}' ({type(step).__name__})"
    return MetadataChecker(name, fields)


# ---- the corpus's record of its schema: schema.json ------------------------------------------------------
SCHEMA_FILE = "schema.json"


def stored_schema(corpus_root: str) -> dict | None:
    """The schema the corpus's earlier runs wrote (``<corpus>/schema.json``), or None before the first run."""
    from curate.state import join, read_bytes

    raw = read_bytes(join(corpus_root, SCHEMA_FILE))
    return orjson.loads(raw) if raw else None


def schema_changes(corpus_root: str, schema: CorpusSchema, fmt: str) -> list[str]:
    """How this run's output would differ from the corpus's (empty: same columns, same types, same format)."""
    old = stored_schema(corpus_root)
    if old is None:
        return []
    changes = compare(old, schema.describe())
    if old.get("format", fmt) != fmt:
        changes.append(f"output.format changed from {old['format']} to {fmt}")
    return changes


def record_schema(corpus_root: str, schema: CorpusSchema, fmt: str) -> None:
    """Write ``<corpus>/schema.json``: format, columns of data/ and excluded/, every declared key, and the
    Hugging Face features of both, which the dataset card (curate/card.py) puts in its ``dataset_info`` so that
    ``datasets.load_dataset(<corpus>)`` reads every file, JSON Lines included, with the declared types."""
    from curate.state import atomic_write_bytes, join

    description = {"format": fmt, **schema.describe(),
                   "features": {"default": hf_features(schema.arrow_schema()),
                                "excluded": hf_features(schema.arrow_schema(excluded=True))}}
    atomic_write_bytes(join(corpus_root, SCHEMA_FILE), orjson.dumps(description, option=orjson.OPT_INDENT_2))


def card_dataset_info(corpus_root: str, config_names: list[str]) -> list[dict]:
    """``dataset_info`` entries of the dataset card for the given configs (empty before the first run)."""
    stored = stored_schema(corpus_root) or {}
    features = stored.get("features", {})
    return [{"config_name": name, "features": features[name]} for name in config_names if name in features]
