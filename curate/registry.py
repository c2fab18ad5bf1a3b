"""Plugin discovery through the ``curate.plugins`` entry-point group.

Built-in plugins are declared in curate's own ``pyproject.toml`` exactly as a third party declares theirs.
Only the plugins a pipeline names are imported.
"""

from __future__ import annotations

import difflib
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points

GROUP = "curate.plugins"


class PluginError(Exception):
    """A plugin could not be found or loaded; the message says what to do."""


@dataclass(frozen=True)
class PluginInfo:
    """One registered plugin: its name and the entry point that provides it."""
    name: str
    entry_point: EntryPoint

    @property
    def distribution(self) -> str:
        """`name version` of the distribution that registers the plugin."""
        dist = self.entry_point.dist
        return f"{dist.name} {dist.version}" if dist else "unknown"

    @property
    def origin(self) -> str:
        """`built-in` for curate's own plugins, else `third-party (distribution version)`."""
        dist = self.entry_point.dist
        return "built-in" if dist is not None and dist.name == "curate" else f"third-party ({self.distribution})"

    @property
    def version(self) -> str:
        """Version of the distribution that registers the plugin."""
        dist = self.entry_point.dist
        return dist.version if dist else "unknown"

    def load(self):
        """Import the plugin class; a missing module raises PluginError with the install line."""
        try:
            cls = self.entry_point.load()
        except ModuleNotFoundError as exc:
            missing = getattr(exc, "name", None) or str(exc)
            raise PluginError(f"plugin '{self.name}' ({self.entry_point.value}) could not be imported: missing "
                              f"module '{missing}'. Install the package that provides it: "
                              f"pip install '{install_hint(missing)}'") from exc
        except Exception as exc:  # noqa: BLE001 - a broken third-party package must not break curate
            raise PluginError(f"plugin '{self.name}' ({self.entry_point.value} from {self.distribution}) is broken: "
                              f"{type(exc).__name__}: {exc}") from exc
        cls.plugin_name = self.name
        return cls


#: the extra of curate that installs a module (``pip install 'curate[EXTRA]'``), for the plugin families that are
#: not in the core install; keep it in step with [project.optional-dependencies] in pyproject.toml
EXTRA_OF_MODULE = {
    "fastwarc": "web", "resiliparse": "web", "fasttext": "web",
    "pygit2": "commits", "bm25s": "commits",
    "tiktoken": "packer", "tokenizers": "packer",
    "httpx": "quality",
    "torch": "llm", "transformers": "llm", "gguf": "llm", "accelerate": "llm",
    "ray": "ray",
    "vllm": "vllm",
}


def install_hint(module: str) -> str:
    """What to ``pip install`` for a missing module: curate's extra that ships it, else the module's name."""
    top = module.split(".")[0]
    return f"curate[{EXTRA_OF_MODULE[top]}]" if top in EXTRA_OF_MODULE else top.replace("_", "-")


@lru_cache(maxsize=1)
def _registered() -> dict[str, list[PluginInfo]]:
    """Every entry point per name (one per distribution; a distribution seen twice on the path counts once)."""
    found: dict[str, list[PluginInfo]] = {}
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        same = found.get(ep.name, [])
        if any(i.entry_point.value == ep.value and _dist_name(i.entry_point) == _dist_name(ep) for i in same):
            continue  # one distribution seen twice on the path
        found.setdefault(ep.name, []).append(PluginInfo(ep.name, ep))
    for infos in found.values():
        if len(infos) > 1:  # a clash (reported by validate): the built-in first
            infos.sort(key=lambda i: i.origin != "built-in")
    return found


def _dist_name(ep: EntryPoint) -> str | None:
    return ep.dist.name if ep.dist else None


def _all() -> dict[str, PluginInfo]:
    return {name: infos[0] for name, infos in _registered().items()}


def providers(name: str) -> list[PluginInfo]:
    """Every distribution registering ``name``: more than one is a clash that ``curate validate`` reports."""
    return list(_registered().get(name, []))


def clash_message(name: str) -> str | None:
    """Why ``name`` is ambiguous (two distributions register it), or None."""
    infos = providers(name)
    if len(infos) < 2:
        return None
    listed = " and ".join(f"{i.distribution} ({i.origin}: {i.entry_point.value})" for i in infos)
    others = ", ".join(sorted({i.entry_point.dist.name for i in infos
                               if i.origin != "built-in" and i.entry_point.dist}))
    return (f"plugin name '{name}' is registered by {len(infos)} distributions: {listed}. Uninstall one "
            f"(pip uninstall {others}) or have it register another name")


def refresh() -> None:
    """Forget the cached entry points (after installing a plugin package in the same process)."""
    _registered.cache_clear()
    importlib.invalidate_caches()


def names() -> list[str]:
    """Names of every installed plugin, sorted."""
    return sorted(_all())


def info(name: str) -> PluginInfo:
    """The plugin registered as ``name``; an unknown name raises PluginError naming the closest match."""
    plugins = _all()
    if name in plugins:
        return plugins[name]
    close = difflib.get_close_matches(name, plugins, n=1, cutoff=0.5)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise PluginError(f"unknown plugin '{name}'.{hint} Known plugins: {', '.join(sorted(plugins))}")


def get(name: str):
    """Import and return the plugin class registered under ``name``."""
    return info(name).load()


def missing_requirements(cls) -> list[str]:
    """``pip install`` lines for the optional modules a plugin needs that are not importable here."""
    out = []
    for module, requirement in getattr(cls, "requires", {}).items():
        if importlib.util.find_spec(module.split(".")[0]) is None:
            out.append(f"module '{module}' is not installed: pip install '{requirement}'")
    return out
