"""The oracle prompt: a versioned template file under ``prompts/``, rendered with the code fenced as data.

The version of a prompt is its file name without ``.txt``; labels are cached per version, so editing the text
of a prompt means saving it under a new name. The fence markers carry a nonce derived from the content's hash,
so a file cannot close the fence early: it would have to contain a hash of itself.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PROMPT_DIR = Path(__file__).with_name("prompts")
DEFAULT_PROMPT = "seed_coder_v1"
#: appended to the prompt when the score is read from the next-token distribution
ANSWER_PREFIX = "Rating: [["


@dataclass(frozen=True)
class PromptTemplate:
    version: str
    text: str

    def render(self, code: str, path: str, lang: str, max_code_chars: int) -> str:
        digest = content_sha256(code)
        tag = f"FILE-{digest[:12]}"
        if len(code) > max_code_chars:
            code = code[:max_code_chars] + f"\n[... truncated: {len(code) - max_code_chars} more characters ...]"
        return self.text.format(path=_one_line(path) or "(unknown)", lang=_one_line(lang) or "(unknown)",
                                open=f"<<<{tag}", close=f"{tag}>>>", code=code)


def content_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _one_line(value) -> str:
    return " ".join(str(value or "").split())[:300]


@lru_cache(maxsize=16)
def load_prompt(name_or_path: str = DEFAULT_PROMPT) -> PromptTemplate:
    """A shipped version name (``seed_coder_v1``) or the path of a ``.txt`` template of your own."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PROMPT_DIR / f"{name_or_path}.txt"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in PROMPT_DIR.glob("*.txt")))
        raise FileNotFoundError(f"prompt template {name_or_path!r} not found (shipped versions: {shipped})")
    lines = path.read_text(encoding="utf-8").splitlines()
    while lines and lines[0].startswith("# "):
        lines.pop(0)
    text = "\n".join(lines).strip("\n") + "\n"
    for placeholder in ("{code}", "{path}", "{lang}", "{open}", "{close}"):
        if placeholder not in text:
            raise ValueError(f"prompt template {path}: missing placeholder {placeholder}")
    return PromptTemplate(version=path.stem, text=text)
