"""Dependencies of the files of one repository: parse, resolve, and count what was resolved per language."""

from __future__ import annotations

import posixpath
from collections import defaultdict
from dataclasses import dataclass, field

from curate_plugins._repo_pack.parse import Parsers, supported
from curate_plugins._repo_pack.resolve import RepoIndex, Resolver
from curate_plugins.lib.code_refs import FileRefs

MANIFESTS = ("package.json", "go.mod", "Cargo.toml")


@dataclass
class RepoDeps:
    edges: dict[str, set[str]] = field(default_factory=dict)  # file -> files it depends on
    #: language -> [internal references, resolved internal references, external references]
    counts: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))
    #: (file, reference) pairs that look internal but name no file of the repository
    unresolved: list[tuple[str, str]] = field(default_factory=list)
    same_package_edges: int = 0
    parse_errors: int = 0


def repo_dependencies(files: dict[str, tuple[str, str]], parsers: Parsers, same_package: bool = True,
                      timer=None, metadata: dict[str, dict] | None = None) -> RepoDeps:
    """``files``: path -> (lang, text); ``metadata``: path -> the file's metadata (references the syntax step
    recorded there are reused). Returns the dependency edges among the files."""
    langs = {p: lang for p, (lang, _) in files.items()}
    refs: dict[str, FileRefs] = {}
    metadata = metadata or {}
    with timer("parse") if timer else _null():
        for path in sorted(files):
            lang, text = files[path]
            if supported(lang):
                refs[path] = parsers.refs(lang, text, metadata.get(path))
    with timer("graph") if timer else _null():
        texts = {p: t for p, (_, t) in files.items() if posixpath.basename(p) in MANIFESTS}
        resolver = Resolver(RepoIndex(list(files), texts), refs, langs)
        out = RepoDeps()
        for path, file_refs in refs.items():
            out.parse_errors += file_refs.has_error
            deps = out.edges.setdefault(path, set())
            for ref in file_refs.refs:
                internal, resolved, targets = resolver.resolve(path, ref)
                counts = out.counts[langs[path]]
                if not internal:
                    counts[2] += 1
                    continue
                counts[0] += 1
                counts[1] += resolved
                if not resolved:
                    out.unresolved.append((path, ref.spec))
                deps.update(t for t in targets if t in refs)
        if same_package:
            out.same_package_edges = _same_package_edges(refs, langs, out.edges)
    return out


def _same_package_edges(refs: dict[str, FileRefs], langs: dict[str, str], edges: dict[str, set[str]]) -> int:
    """Java and Go files of one package use each other's top-level names without importing them."""
    groups: dict[tuple, list[str]] = defaultdict(list)
    for path, r in refs.items():
        if langs[path] in ("java", "go") and r.package:
            key = (langs[path], r.package, posixpath.dirname(path) if langs[path] == "go" else "")
            groups[key].append(path)
    added = 0
    for members in groups.values():
        owner: dict[str, list[str]] = defaultdict(list)
        for path in members:
            stem = posixpath.basename(path).rsplit(".", 1)[0]
            for name in refs[path].defines | ({stem} if langs[path] == "java" else set()):
                owner[name].append(path)
        for path in members:
            for name in refs[path].uses - refs[path].defines:
                for target in owner.get(name, ()):
                    if target != path and target not in edges[path]:
                        edges[path].add(target)
                        added += 1
    return added


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
