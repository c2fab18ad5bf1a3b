"""Token counting for the packer, always offline.

- ``builtin``: a byte-level BPE of 8,192 tokens that curate ships (``code_bpe_8k.tiktoken.txt``), trained on
  real code by ``tools/data/build_packer_tokenizer.py`` and run by tiktoken from the shipped ranks.
- ``tiktoken:NAME``: a tiktoken encoding (``cl100k_base``, ``o200k_base``, ...), only when its BPE file is
  already in tiktoken's cache (``TIKTOKEN_CACHE_DIR``); curate never lets tiktoken download it.
- a path to a ``tokenizer.json``: any Hugging Face `tokenizers` file.
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

BUILTIN = Path(__file__).with_name("code_bpe_8k.tiktoken.txt")
BUILTIN_SPECIAL = ["<|endoftext|>", "<|file_sep|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
                   "<|repo_name|>"]
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
_TIKTOKEN_BLOBS = {name: f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
                   for name in ("cl100k_base", "o200k_base", "p50k_base", "r50k_base")}


def tiktoken_cache_file(name: str) -> Path | None:
    url = _TIKTOKEN_BLOBS.get(name)
    if url is None:
        return None
    cache = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR") \
        or os.path.join(tempfile.gettempdir(), "data-gym-cache")
    return Path(cache) / hashlib.sha1(url.encode()).hexdigest()


def check_tokenizer(spec: str) -> str | None:
    """A problem with the tokenizer spec, or None. Never downloads anything."""
    if spec == "builtin":
        return None if BUILTIN.is_file() else f"shipped tokenizer missing: {BUILTIN}"
    if spec.startswith("tiktoken:"):
        cached = tiktoken_cache_file(spec.split(":", 1)[1])
        if cached is None:
            return f"unknown tiktoken encoding {spec!r} (known: {', '.join(_TIKTOKEN_BLOBS)})"
        if not cached.is_file():
            return f"{spec}: its BPE file is not in tiktoken's cache ({cached}); curate does not download it"
        return None
    if not Path(spec).is_file():
        return f"tokenizer file not found: {spec}"
    try:
        import tokenizers  # noqa: F401
    except ImportError:
        return f"{spec}: reading a tokenizer.json needs `tokenizers`: pip install 'curate[packer]'"
    return None


def _builtin_encoding():
    import tiktoken

    ranks = {}
    for line in BUILTIN.read_text().splitlines():
        token, rank = line.split()
        ranks[base64.b64decode(token)] = int(rank)
    special = {token: i for i, token in enumerate(BUILTIN_SPECIAL)}
    return tiktoken.Encoding("curate_code_bpe_8k", pat_str=GPT2_PATTERN, mergeable_ranks=ranks,
                             special_tokens=special)


@dataclass
class Layout:
    """The tokens of ``prefix + text`` seen from ``text``: ``prefix_tokens`` start before it (one may straddle
    the junction), ``starts`` are the character offsets in ``text`` of the others."""

    prefix_tokens: int
    starts: list[int]

    def tokens_before(self, position: int) -> int:
        """Tokens of ``prefix + text`` that start before character ``position`` of ``text``."""
        return self.prefix_tokens + bisect.bisect_left(self.starts, position)


class TokenCounter:
    """Counts tokens and finds where to cut a text, for one tokenizer spec. Special tokens of the spec
    (``<|file_sep|>``, ...) count as one token; any other text is encoded as ordinary text."""

    def __init__(self, spec: str = "builtin"):
        problem = check_tokenizer(spec)
        if problem:
            raise ValueError(problem)
        self.spec = spec
        self._hf = self._tik = self._sizes = None
        if spec == "builtin":
            self._tik = _builtin_encoding()
        elif spec.startswith("tiktoken:"):
            import tiktoken

            self._tik = tiktoken.get_encoding(spec.split(":", 1)[1])
        else:
            from tokenizers import Tokenizer

            self._hf = Tokenizer.from_file(spec)

    def encode(self, text: str) -> list[int]:
        if self._tik is not None:
            return self._tik.encode(text, allowed_special="all", disallowed_special=())
        return self._hf.encode(text, add_special_tokens=False).ids

    def count(self, texts: list[str]) -> list[int]:
        """Tokens of each text. tiktoken encodes into a numpy buffer (no list of Python ints to build, about 10%
        faster than ``encode_batch`` on one thread); `tokenizers` encodes the batch at once."""
        if self._tik is not None:
            encode = self._tik.encode_to_numpy
            return [len(encode(t, allowed_special="all", disallowed_special=())) for t in texts]
        return [len(e.ids) for e in self._hf.encode_batch(texts, add_special_tokens=False)]

    def count_keeping(self, texts: list[str], over: int) -> tuple[list[int], dict[int, object]]:
        """``count(texts)`` plus the tokens of each text with more than ``over`` tokens (index -> tokens), so
        that cutting such a text needs no second encoding (tiktoken only; otherwise the dict is empty)."""
        if self._tik is None:
            return self.count(texts), {}
        counts, kept = [], {}
        encode = self._tik.encode_to_numpy
        for i, text in enumerate(texts):
            tokens = encode(text, allowed_special="all", disallowed_special=())
            counts.append(len(tokens))
            if len(tokens) > over:
                kept[i] = tokens
        return counts, kept

    def layout(self, prefix: str, text: str, tokens=None) -> Layout | None:
        """Where the tokens of ``prefix + text`` fall in ``text`` (tiktoken only; None otherwise). ``tokens``: that
        encoding when already made (``count_keeping``)."""
        if self._tik is None:
            return None
        if tokens is None:
            tokens = self._tik.encode_to_numpy(prefix + text, allowed_special="all", disallowed_special=())
        sizes = self._token_sizes()[tokens]
        starts = sizes.cumsum() - sizes
        skip = len(prefix.encode("utf-8", "surrogatepass"))
        first = int(starts.searchsorted(skip))
        return Layout(first, _char_offsets(text, (starts[first:] - skip).tolist()))

    def token_starts(self, text: str) -> list[int]:
        """Character offset where each token of ``text`` (encoded as ordinary text) starts."""
        if self._tik is not None:
            import numpy as np

            tokens = self._tik.encode_to_numpy(text, allowed_special=set(), disallowed_special=())
            ends = np.cumsum(self._token_sizes()[tokens])
            return _char_offsets(text, (ends - self._token_sizes()[tokens]).tolist())
        return [start for start, _ in self._hf.encode(text, add_special_tokens=False).offsets]

    def _token_sizes(self):
        """Bytes of each token id (a lookup table: offsets without decoding every token)."""
        if self._sizes is None:
            import numpy as np

            sizes = np.zeros(self._tik.n_vocab, dtype=np.int64)
            for token in range(self._tik.n_vocab):
                with contextlib.suppress(KeyError):  # an unused id of the encoding stays 0
                    sizes[token] = len(self._tik.decode_single_token_bytes(token))
            self._sizes = sizes
        return self._sizes


def _char_offsets(text: str, byte_offsets: list[int]) -> list[int]:
    """Character offsets of UTF-8 byte offsets into ``text`` (a byte inside a character maps to it)."""
    if text.isascii():
        return byte_offsets
    import numpy as np

    data = np.frombuffer(text.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    char_of_byte = np.cumsum((data & 0xC0) != 0x80) - 1
    return char_of_byte[np.asarray(byte_offsets, dtype=np.int64)].tolist() if byte_offsets else []
