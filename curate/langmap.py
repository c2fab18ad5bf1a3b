"""File extension and filename -> language. Covers the programming languages of Seed-Coder's corpus
(89 languages) plus the markup, config and data formats found in real repositories.

Language names are lowercase identifiers used everywhere in curate (``lang`` metadata, per-language
thresholds, grammar maps). ``.h`` is mapped to ``c``; plugins that parse may refine it.
"""

from __future__ import annotations

import posixpath

EXTENSIONS: dict[str, str] = {
    # mainstream
    ".py": "python", ".pyi": "python", ".pyw": "python", ".pyx": "cython", ".pxd": "cython",
    ".java": "java", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "tsx",
    ".go": "go", ".rs": "rust", ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".c++": "cpp", ".hpp": "cpp", ".hh": "cpp", ".hxx": "cpp",
    ".h++": "cpp", ".ipp": "cpp", ".tpp": "cpp", ".inl": "cpp", ".cu": "cuda", ".cuh": "cuda",
    ".cs": "csharp", ".php": "php", ".phtml": "php", ".rb": "ruby", ".rake": "ruby", ".gemspec": "ruby",
    ".swift": "swift", ".kt": "kotlin", ".kts": "kotlin", ".scala": "scala", ".sc": "scala",
    ".m": "objective-c", ".mm": "objective-cpp", ".dart": "dart", ".lua": "lua", ".pl": "perl", ".pm": "perl",
    ".t": "perl", ".r": "r", ".R": "r", ".jl": "julia", ".hs": "haskell", ".lhs": "haskell",
    ".ml": "ocaml", ".mli": "ocaml", ".fs": "fsharp", ".fsi": "fsharp", ".fsx": "fsharp",
    ".ex": "elixir", ".exs": "elixir", ".erl": "erlang", ".hrl": "erlang", ".clj": "clojure",
    ".cljs": "clojure", ".cljc": "clojure", ".edn": "clojure", ".groovy": "groovy", ".gradle": "groovy",
    ".vb": "visual-basic", ".bas": "visual-basic", ".vbs": "vbscript", ".f": "fortran", ".f90": "fortran",
    ".f95": "fortran", ".f03": "fortran", ".f08": "fortran", ".for": "fortran", ".pas": "pascal",
    ".pp": "pascal", ".dpr": "pascal", ".adb": "ada", ".ads": "ada", ".d": "d", ".nim": "nim",
    ".cr": "crystal", ".zig": "zig", ".v": "verilog", ".sv": "systemverilog", ".svh": "systemverilog",
    ".vhd": "vhdl", ".vhdl": "vhdl", ".asm": "assembly", ".s": "assembly", ".S": "assembly",
    ".cob": "cobol", ".cbl": "cobol", ".lisp": "common-lisp", ".lsp": "common-lisp", ".cl": "common-lisp",
    ".el": "emacs-lisp", ".scm": "scheme", ".ss": "scheme", ".rkt": "racket", ".pro": "prolog",
    ".tcl": "tcl", ".elm": "elm", ".purs": "purescript", ".idr": "idris", ".agda": "agda",
    ".coq": "coq", ".sol": "solidity", ".move": "move", ".cairo": "cairo", ".vala": "vala",
    ".hx": "haxe", ".ps1": "powershell", ".psm1": "powershell", ".psd1": "powershell",
    ".sh": "shell", ".bash": "shell", ".zsh": "shell", ".ksh": "shell", ".fish": "fish",
    ".bat": "batchfile", ".cmd": "batchfile", ".awk": "awk", ".sed": "sed", ".mat": "matlab",
    ".sas": "sas", ".stan": "stan", ".smali": "smali", ".ahk": "autohotkey", ".au3": "autoit",
    ".applescript": "applescript", ".vim": "vim-script", ".nix": "nix", ".gd": "gdscript",
    ".glsl": "glsl", ".vert": "glsl", ".frag": "glsl", ".hlsl": "hlsl", ".wgsl": "wgsl", ".metal": "metal",
    ".sql": "sql", ".psql": "sql", ".plsql": "sql", ".pls": "sql", ".graphql": "graphql", ".gql": "graphql",
    ".proto": "protobuf", ".thrift": "thrift", ".capnp": "capnp", ".bicep": "bicep",
    ".tf": "hcl", ".hcl": "hcl", ".cmake": "cmake", ".mk": "makefile", ".mak": "makefile",
    ".ino": "arduino", ".pde": "processing", ".lean": "lean", ".odin": "odin", ".gleam": "gleam",
    ".res": "rescript", ".re": "reason", ".mojo": "mojo", ".rego": "rego", ".cue": "cue",
    ".apex": "apex", ".cls": "apex", ".abap": "abap", ".st": "smalltalk", ".e": "eiffel",
    ".ml4": "ocaml", ".sml": "standard-ml", ".thy": "isabelle", ".mo": "modelica", ".pyj": "python",
    ".qml": "qml", ".ps": "postscript", ".raku": "raku", ".rakumod": "raku", ".p6": "raku",
    ".vue": "vue", ".svelte": "svelte", ".astro": "astro",
    # markup, styles, templates
    ".html": "html", ".htm": "html", ".xhtml": "html", ".css": "css", ".scss": "scss", ".sass": "sass",
    ".less": "less", ".styl": "stylus", ".xml": "xml", ".xsd": "xml", ".xsl": "xslt", ".xslt": "xslt",
    ".svg": "svg", ".md": "markdown", ".markdown": "markdown", ".mdx": "mdx", ".rst": "restructuredtext",
    ".tex": "tex", ".sty": "tex", ".bib": "bibtex", ".adoc": "asciidoc", ".org": "org",
    ".erb": "erb", ".ejs": "ejs", ".hbs": "handlebars", ".mustache": "mustache", ".jinja": "jinja",
    ".j2": "jinja", ".twig": "twig", ".liquid": "liquid", ".pug": "pug", ".haml": "haml",
    ".ipynb": "jupyter-notebook", ".txt": "text",
    # config and data
    ".json": "json", ".jsonc": "json", ".json5": "json5", ".jsonl": "jsonl", ".yaml": "yaml",
    ".yml": "yaml", ".toml": "toml", ".ini": "ini", ".cfg": "ini", ".conf": "ini", ".properties": "properties",
    ".csv": "csv", ".tsv": "tsv", ".env": "dotenv", ".dockerfile": "dockerfile", ".lock": "lockfile",
}

FILENAMES: dict[str, str] = {
    "Makefile": "makefile", "makefile": "makefile", "GNUmakefile": "makefile", "Dockerfile": "dockerfile",
    "Containerfile": "dockerfile", "CMakeLists.txt": "cmake", "Rakefile": "ruby", "Gemfile": "ruby",
    "Podfile": "ruby", "Vagrantfile": "ruby", "Jenkinsfile": "groovy", "BUILD": "starlark",
    "BUILD.bazel": "starlark", "WORKSPACE": "starlark", "Justfile": "just", "justfile": "just",
    "meson.build": "meson", "SConstruct": "python", "SConscript": "python", "go.mod": "go-module",
    "go.sum": "lockfile", "Cargo.lock": "lockfile", "package-lock.json": "lockfile", "yarn.lock": "lockfile",
    "pnpm-lock.yaml": "lockfile", "poetry.lock": "lockfile", "Pipfile.lock": "lockfile",
    "composer.lock": "lockfile", ".bashrc": "shell", ".zshrc": "shell", ".profile": "shell",
}

SHEBANGS = {"python": "python", "python3": "python", "node": "javascript", "bash": "shell", "sh": "shell",
            "zsh": "shell", "ruby": "ruby", "perl": "perl", "php": "php", "lua": "lua", "Rscript": "r"}

#: languages that are programming languages (as opposed to markup, config, data and text)
MARKUP_AND_DATA = {"html", "css", "scss", "sass", "less", "stylus", "xml", "xslt", "svg", "markdown", "mdx",
                   "restructuredtext", "tex", "bibtex", "asciidoc", "org", "erb", "ejs", "handlebars",
                   "mustache", "jinja", "twig", "liquid", "pug", "haml", "jupyter-notebook", "text", "json",
                   "json5", "jsonl", "yaml", "toml", "ini", "properties", "csv", "tsv", "dotenv", "lockfile",
                   "go-module"}

UNKNOWN = UNKNOWN_LANGUAGE = "unknown"


def language_for_path(path: str, first_line: str | None = None) -> str:
    """Language of a file from its name, its extension, then its shebang line; ``unknown`` otherwise."""
    name = posixpath.basename(path)
    if name in FILENAMES:
        return FILENAMES[name]
    dot = name.rfind(".")
    if dot > 0 or (dot == 0 and name.count(".") > 1):
        ext = name[dot:]
        lang = EXTENSIONS.get(ext) or EXTENSIONS.get(ext.lower())
        if lang:
            return lang
    if first_line and first_line.startswith("#!"):
        words = first_line[2:].strip().split()
        if words:
            prog = posixpath.basename(words[0])
            if prog == "env" and len(words) > 1:
                prog = words[1]
            prog = prog.rstrip("0123456789.") or prog
            if prog in SHEBANGS:
                return SHEBANGS[prog]
    return UNKNOWN


def programming_languages() -> set[str]:
    """Language names of programming languages (markup and data formats excluded)."""
    return set(EXTENSIONS.values()) - MARKUP_AND_DATA
