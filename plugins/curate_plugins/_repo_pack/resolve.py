"""Map the references of a file (`curate_plugins.lib.code_refs.Ref`) to files of the same repository.

Each rule returns ``(internal, targets)``: ``internal`` says whether the reference names something inside
the repository (relative imports, the repository's own packages, modules or crate), and ``targets`` the
files it resolves to (empty when an internal reference names no file of the repository). External
references (the standard library, third-party packages) are ignored.
"""

from __future__ import annotations

import json
import posixpath
import tomllib
from collections import defaultdict

from curate_plugins.lib.code_refs import GRAMMARS, FileRefs, Ref

JS_EXTS = (".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx", ".mts", ".cts", ".d.ts")
TS_EXTS = (".ts", ".tsx", ".d.ts", ".mts", ".cts", ".js", ".mjs", ".cjs", ".jsx")


def _norm(path: str) -> str | None:
    """Normalised repository-relative path; None when it leaves the repository."""
    joined = posixpath.normpath(path) if path else "."
    if joined == ".." or joined.startswith(("../", "/")):
        return None
    return "" if joined == "." else joined


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a.split("/"), b.split("/")):
        if x != y:
            break
        n += 1
    return n


class RepoIndex:
    """Paths of one repository, indexed by directory and by every path suffix."""

    def __init__(self, paths: list[str], texts: dict[str, str]):
        self.paths = set(paths)
        self.by_suffix: dict[str, list[str]] = defaultdict(list)
        self.by_dir: dict[str, list[str]] = defaultdict(list)
        for path in sorted(paths):
            parts = path.split("/")
            for i in range(len(parts)):
                self.by_suffix["/".join(parts[i:])].append(path)
            self.by_dir[posixpath.dirname(path)].append(path)
        self.texts = texts  # manifest files only: package.json, go.mod, Cargo.toml

    def best(self, suffix: str, near: str) -> str | None:
        """The file ending with ``suffix`` closest to ``near`` (longest shared directory, then shortest)."""
        found = self.by_suffix.get(suffix)
        if not found:
            return None
        return min(found, key=lambda p: (-_common_prefix(p, near), len(p), p))

    def dir_exists(self, directory: str) -> bool:
        return any(p.startswith(directory + "/") for p in self.paths) if directory else True


class Resolver:
    """Resolves the references of every file of one repository."""

    def __init__(self, index: RepoIndex, file_refs: dict[str, FileRefs], langs: dict[str, str]):
        self.index, self.file_refs, self.langs = index, file_refs, langs
        self._python_tops = self._python_top_levels()
        self._java_packages = {r.package for p, r in file_refs.items() if langs[p] == "java" and r.package}
        self._go_modules = self._read_go_modules()
        self._crates = self._read_crates()
        self._js_packages = self._read_js_packages()

    def resolve(self, path: str, ref: Ref) -> tuple[bool, bool, list[str]]:
        """(internal, resolved, files it depends on). A reference to the file itself is resolved, no edge."""
        family = GRAMMARS[self.langs[path]][1]
        internal, targets = getattr(self, f"_{family}")(path, ref)
        return internal, bool(targets), [t for t in dict.fromkeys(targets) if t != path]

    # -- Python ------------------------------------------------------------------------------------------
    def _python_top_levels(self) -> set[str]:
        """Names importable at top level: for each Python file, climb its packages (folders with an
        ``__init__.py``); the outermost package, or the module itself outside any package, is a top level."""
        tops = set()
        for path, lang in self.langs.items():
            if lang != "python":
                continue
            parts = path.split("/")
            top = parts[-1].rsplit(".", 1)[0]
            for depth in range(len(parts) - 1, 0, -1):
                if "/".join(parts[:depth] + ["__init__.py"]) not in self.index.paths:
                    break
                top = parts[depth - 1]
            if top.isidentifier():
                tops.add(top)
        return tops

    def _py_module(self, dotted: list[str], near: str, base: str | None = None) -> str | None:
        rel = "/".join(dotted)
        if base is not None:
            folder = posixpath.join(base, rel) if rel else base
            names = [f"{folder}.py", f"{folder}.pyi"] if rel else []
            for candidate in names + [posixpath.join(folder, "__init__.py")]:
                candidate = _norm(candidate)
                if candidate and candidate in self.index.paths:
                    return candidate
            return None
        return (self.index.best(f"{rel}.py", near) or self.index.best(f"{rel}/__init__.py", near)
                or self.index.best(f"{rel}.pyi", near))

    def _python(self, path: str, ref: Ref) -> tuple[bool, list[str]]:
        dotted = [p for p in ref.spec.split(".") if p]
        base = None
        if ref.level:
            base = posixpath.dirname(path)
            for _ in range(ref.level - 1):
                base = posixpath.dirname(base)
        elif not dotted or dotted[0] not in self._python_tops:
            return False, []
        module = self._py_module(dotted, path, base)
        targets = [module] if module else []
        for name in ref.names if ref.kind == "from" else ():
            sub = self._py_module(dotted + [name], path, base)
            if sub:
                targets.append(sub)
        if ref.kind == "from" and not module and targets:
            module = targets[0]  # `from . import x` where the package has no __init__.py
        return True, targets if module else []

    # -- Java --------------------------------------------------------------------------------------------
    def _java(self, path: str, ref: Ref) -> tuple[bool, list[str]]:
        name = ref.spec
        if not any(name == p or name.startswith(p + ".") for p in self._java_packages):
            return False, []
        parts = name.split(".")
        if ref.kind == "wildcard":
            folder = self._java_folder(parts, path)
            if folder is not None:
                return True, [p for p in self.index.by_dir[folder] if p.endswith(".java")]
        for end in range(len(parts), 1, -1):  # a.b.C, a.b.C.Inner, a.b.C.staticMember
            found = self.index.best("/".join(parts[:end]) + ".java", path)
            if found:
                return True, [found]
        return True, []

    def _java_folder(self, parts: list[str], near: str) -> str | None:
        suffix = "/".join(parts)
        candidates = [d for d in self.index.by_dir if d == suffix or d.endswith("/" + suffix)]
        if not candidates:
            return None
        return min(candidates, key=lambda d: (-_common_prefix(d, near), len(d), d))

    # -- JavaScript / TypeScript -------------------------------------------------------------------------
    def _read_js_packages(self) -> dict[str, tuple[str, str]]:
        """package name -> (folder, main entry) from every package.json."""
        out = {}
        for path, text in self.index.texts.items():
            if posixpath.basename(path) != "package.json":
                continue
            try:
                data = json.loads(text)
            except ValueError:
                continue
            if isinstance(data, dict) and isinstance(data.get("name"), str):
                main = data.get("main") if isinstance(data.get("main"), str) else "index"
                out[data["name"]] = (posixpath.dirname(path), main)
        return out

    def _js_file(self, target: str, importer: str) -> str | None:
        exts = TS_EXTS if self.langs[importer] in ("typescript", "tsx") else JS_EXTS
        candidates = [target] + [target + e for e in exts] + [f"{target}/index{e}" for e in exts]
        if target.endswith((".js", ".mjs", ".cjs", ".jsx")):
            stem = target.rsplit(".", 1)[0]
            candidates += [stem + e for e in (".ts", ".tsx", ".d.ts", ".mts", ".cts")]
        return next((c for c in candidates if c in self.index.paths), None)

    def _js(self, path: str, ref: Ref) -> tuple[bool, list[str]]:
        spec = ref.spec
        if spec.startswith((".", "/")):
            target = _norm(posixpath.join(posixpath.dirname(path), spec))
            if target is None:
                return True, []
            found = self._js_file(target, path) if target else self._js_file("index", path)
            if found is None and target in ("", ".") or found is None and self.index.dir_exists(target):
                found = self._js_package_main(target, path)
            return True, [found] if found else []
        for name, (folder, main) in self._js_packages.items():
            if spec == name or spec.startswith(name + "/"):
                rest = spec[len(name):].lstrip("/")
                if rest:
                    found = self._js_file(posixpath.join(folder, rest) if folder else rest, path)
                else:
                    found = self._js_package_main(folder, path, main)
                return True, [found] if found else []
        return False, []

    def _js_package_main(self, folder: str, importer: str, main: str | None = None) -> str | None:
        if main is None:
            main = next((m for f, m in self._js_packages.values() if f == folder), "index")
        target = _norm(posixpath.join(folder, main)) if folder else _norm(main)
        return self._js_file(target, importer) if target else None

    # -- Go ----------------------------------------------------------------------------------------------
    def _read_go_modules(self) -> dict[str, str]:
        """module path -> folder of its go.mod"""
        out = {}
        for path, text in self.index.texts.items():
            if posixpath.basename(path) != "go.mod":
                continue
            for line in text.splitlines():
                words = line.split()
                if len(words) >= 2 and words[0] == "module":
                    out[words[1].strip('"')] = posixpath.dirname(path)
                    break
        return out

    def _go(self, path: str, ref: Ref) -> tuple[bool, list[str]]:
        for module, folder in sorted(self._go_modules.items(), key=lambda kv: -len(kv[0])):
            if ref.spec == module or ref.spec.startswith(module + "/"):
                rel = ref.spec[len(module):].lstrip("/")
                directory = _norm(posixpath.join(folder, rel)) if folder or rel else ""
                files = [p for p in self.index.by_dir.get(directory or "", []) if p.endswith(".go")]
                non_test = [p for p in files if not p.endswith("_test.go")]
                return True, non_test or files
        return False, []

    # -- Rust --------------------------------------------------------------------------------------------
    def _read_crates(self) -> dict[str, tuple[str, str]]:
        """crate folder -> (crate name with `_`, root file) from every Cargo.toml with a lib or main."""
        out = {}
        for path, text in self.index.texts.items():
            if posixpath.basename(path) != "Cargo.toml":
                continue
            folder = posixpath.dirname(path)
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError:
                data = {}
            name = (data.get("lib") or {}).get("name") or (data.get("package") or {}).get("name") \
                or posixpath.basename(folder) or "crate"
            prefix = f"{folder}/" if folder else ""
            root = next((r for r in (f"{prefix}src/lib.rs", f"{prefix}src/main.rs") if r in self.index.paths), None)
            if root:
                out[folder] = (name.replace("-", "_"), root)
        return out

    def _crate_root(self, path: str) -> str:
        """The root file of the crate ``path`` belongs to (a file outside any src/ is its own root)."""
        for folder, (_, root) in sorted(self._crates.items(), key=lambda kv: -len(kv[0])):
            src = f"{folder}/src/" if folder else "src/"
            if path.startswith(src):
                return root
        return path

    @staticmethod
    def _rust_mod_dir(path: str, is_root: bool) -> str:
        name = posixpath.basename(path)
        if is_root or name in ("mod.rs", "lib.rs", "main.rs"):
            return posixpath.dirname(path)
        return path[:-3]

    def _rust_child(self, directory: str, name: str) -> str | None:
        prefix = f"{directory}/" if directory else ""
        return next((c for c in (f"{prefix}{name}.rs", f"{prefix}{name}/mod.rs") if c in self.index.paths), None)

    def _rust_parent(self, path: str) -> str | None:
        name = posixpath.basename(path)
        directory = posixpath.dirname(path)
        if name == "mod.rs":
            directory = posixpath.dirname(directory)
        for candidate in (f"{directory}.rs", f"{directory}/mod.rs", f"{directory}/lib.rs", f"{directory}/main.rs"):
            if candidate in self.index.paths and candidate != path:
                return candidate
        return None

    def _rust_walk(self, start: str, is_root: bool, segments: list[str]) -> list[str]:
        current, directory, found = start, self._rust_mod_dir(start, is_root), [start]
        for seg in segments:
            child = self._rust_child(directory, seg)
            if child is None:
                break
            current, directory = child, self._rust_mod_dir(child, False)
            found.append(current)
        return [found[-1]]

    def _rust(self, path: str, ref: Ref) -> tuple[bool, list[str]]:
        root = self._crate_root(path)
        if ref.kind == "mod":
            child = self._rust_child(self._rust_mod_dir(path, path == root), ref.spec)
            return True, [child] if child else []
        segments = [s for s in ref.spec.split("::") if s]
        if not segments:
            return False, []
        head, rest = segments[0], segments[1:]
        own = {name: r for name, r in self._crates.values()}
        if head == "crate":
            return True, self._rust_walk(root, True, rest)
        if head in own and root == path and ref.kind == "use":
            return True, self._rust_walk(own[head], True, rest)
        if head == "self":
            return True, self._rust_walk(path, path == root, rest)
        if head == "super":
            module = path
            while segments and segments[0] == "super":
                module = self._rust_parent(module) or module
                segments = segments[1:]
            return True, self._rust_walk(module, module == root, segments)
        return False, []

    # -- C / C++ -----------------------------------------------------------------------------------------
    def _c(self, path: str, ref: Ref) -> tuple[bool, list[str]]:
        spec = ref.spec
        if ref.kind == "local":
            near = _norm(posixpath.join(posixpath.dirname(path), spec))
            if near and near in self.index.paths:
                return True, [near]
        found = self.index.best(_norm(spec) or spec, path)
        if found:
            return True, [found]
        return ref.kind == "local", []
