"""Text normalisation and vectorised rolling n-gram hashes.

Normalisation: the text is lowercased (``str.lower``) and cut into *words*, the maximal runs of identifier
characters (ASCII letters, digits, ``_`` and any non-ASCII character). Everything else (whitespace,
punctuation, operators, brackets, quotes) only separates words, so reindenting, reformatting, changing quote
style or spacing around operators does not change the word sequence. ``x+=1`` and ``x += 1`` are both
``x 1``.

Hashing never loops in Python over words or n-grams. On the UTF-8 bytes of the lowered text:

1. a 256-entry table marks the word bytes; word starts and ends come from one ``np.diff``;
2. each word's hash is a polynomial hash ``sum(b_j * P**(j - start))`` mod 2**64, computed for all words at
   once from one prefix sum: ``(prefix[end] - prefix[start]) * P**-start`` (P is odd, so it has an inverse
   mod 2**64), mixed with the word length and the murmur3 finaliser;
3. each n-gram's hash is the same polynomial trick over the word hashes, then the finaliser again.

So one document costs about a dozen numpy passes over its bytes and words, whatever ``n`` is.
"""

from __future__ import annotations

import re

import numpy as np

NORMALISER_VERSION = "words-v1"

_BYTE_P = 0x100000001B3  # odd multipliers: invertible mod 2**64
_WORD_P = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1
_LEN_MIX = np.uint64(0xD6E8FEB86659FD93)

_IS_WORD_BYTE = np.zeros(256, dtype=bool)
for _c in b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_":
    _IS_WORD_BYTE[_c] = True
_IS_WORD_BYTE[0x80:] = True
_WORD_TABLE = bytes(int(flag) for flag in _IS_WORD_BYTE)  # for bytes.translate: word byte -> 1, other -> 0
_IS_DIGIT = np.zeros(256, dtype=bool)
_IS_DIGIT[ord("0"):ord("9") + 1] = True

_WORD_RUN_RE = re.compile(r"(?:[0-9a-z_]|[^\x00-\x7f])+")


def words(text: str) -> list[str]:
    """The normalised words of ``text`` (slow reference implementation; the hashes below do not use it)."""
    return _WORD_RUN_RE.findall(text.lower())


class _Powers:
    """Cached ``base**i`` and ``base**-i`` mod 2**64 for i < length, grown on demand."""

    def __init__(self, base: int):
        self.base = base
        self.inverse = pow(base, -1, 1 << 64)
        self.pow = np.ones(1, dtype=np.uint64)
        self.inv = np.ones(1, dtype=np.uint64)

    def get(self, length: int) -> tuple[np.ndarray, np.ndarray]:
        if length > len(self.pow):
            size = max(length, 2 * len(self.pow), 4096)
            self.pow = _power_array(self.base, size)
            self.inv = _power_array(self.inverse, size)
        return self.pow[:length], self.inv[:length]


def _power_array(base: int, size: int) -> np.ndarray:
    out = np.full(size, base, dtype=np.uint64)
    out[0] = 1
    with np.errstate(over="ignore"):
        return np.cumprod(out, dtype=np.uint64)


_BYTE_POWERS = _Powers(_BYTE_P)
_WORD_POWERS = _Powers(_WORD_P)


_S33, _M1, _M2 = np.uint64(33), np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53)


def fmix64(h: np.ndarray) -> np.ndarray:
    """murmur3's 64-bit finaliser, in place on a uint64 array (returns it). Array arithmetic wraps mod 2**64."""
    h ^= h >> _S33
    h *= _M1
    h ^= h >> _S33
    h *= _M2
    h ^= h >> _S33
    return h


def _window_sums(values: np.ndarray, starts: np.ndarray, ends: np.ndarray, powers: _Powers) -> np.ndarray:
    """``sum(values[j] * base**(j - start))`` over each [start, end) window, all windows at once."""
    pw, inv = powers.get(len(values))
    prefix = np.empty(len(values) + 1, dtype=np.uint64)
    prefix[0] = 0
    np.multiply(values, pw, out=values)
    np.cumsum(values, out=prefix[1:])
    return (prefix[ends] - prefix[starts]) * inv[starts]


class Tokens:
    """The words of one text: their hashes and byte spans in the lowered UTF-8 text."""

    __slots__ = ("data", "hashes", "starts", "ends")

    def __init__(self, text: str):
        raw = text.lower().encode("utf-8", "surrogatepass")
        self.data = np.frombuffer(raw, dtype=np.uint8)
        word = np.frombuffer(b"\0" + raw.translate(_WORD_TABLE) + b"\0", dtype=np.int8)
        edges = word[1:] - word[:-1]  # +1 where a word starts, -1 one past its end
        self.starts = np.flatnonzero(edges == 1)
        self.ends = np.flatnonzero(edges == -1)
        hashes = _window_sums(self.data.astype(np.uint64), self.starts, self.ends, _BYTE_POWERS)
        hashes ^= (self.ends - self.starts).astype(np.uint64) * _LEN_MIX
        self.hashes = fmix64(hashes)

    def __len__(self) -> int:
        return len(self.hashes)

    def informative_counts(self, n: int, exclude: np.ndarray | None = None) -> np.ndarray:
        """Per n-gram, the number of distinct informative words: not a number (first character a digit), longer
        than one character and, if given, not in ``exclude`` (sorted word hashes). Number runs, single-letter
        lists and ``for i in range`` headers score low."""
        if len(self.hashes) < n:
            return np.empty(0, dtype=np.int64)
        informative = self._informative()
        if exclude is not None:
            informative &= ~np.isin(self.hashes, exclude)
        masked = np.where(informative, self.hashes, np.uint64(0))
        windows = np.sort(np.lib.stride_tricks.sliding_window_view(masked, n), axis=1)
        distinct = 1 + np.count_nonzero(np.diff(windows, axis=1), axis=1)
        return distinct - (windows[:, 0] == 0)

    def rare_word_windows(self, n: int, known: np.ndarray) -> np.ndarray:
        """Per n-gram, whether it holds a rare word: informative and not in ``known`` (sorted hashes of the
        words of ordinary code), such as a benchmark's function name ``count_ways``."""
        if len(self.hashes) < n:
            return np.empty(0, dtype=bool)
        rare = self._informative() & ~np.isin(self.hashes, known)
        running = np.concatenate(([0], np.cumsum(rare)))
        return (running[n:] - running[:-n]) > 0

    def _informative(self) -> np.ndarray:
        return ((self.ends - self.starts) > 1) & ~_IS_DIGIT[self.data[self.starts]]

    def ngram_hashes(self, n: int) -> np.ndarray:
        """Hash of every window of ``n`` consecutive words (empty if there are fewer than n words)."""
        return ngram_hashes(self.hashes, n)

    def snippet(self, first_word: int, n: int) -> str:
        """The lowered source text of words ``first_word .. first_word + n - 1``."""
        start, end = int(self.starts[first_word]), int(self.ends[first_word + n - 1])
        return bytes(self.data[start:end]).decode("utf-8", "replace")


def ngram_hashes(word_hashes: np.ndarray, n: int) -> np.ndarray:
    count = len(word_hashes) - n + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64)
    starts = np.arange(count)
    hashes = _window_sums(word_hashes.copy(), starts, starts + n, _WORD_POWERS)
    hashes ^= np.uint64((n * int(_LEN_MIX)) & _MASK)
    return fmix64(hashes)


def reference_ngram_hash(word_list: list[str]) -> int:
    """Pure-Python hash of one n-gram of words; equal to the vectorised one (used by tests)."""
    n = len(word_list)
    acc = 0
    for k, word in enumerate(word_list):
        data = word.encode("utf-8", "surrogatepass")
        h = sum(b * pow(_BYTE_P, j, 1 << 64) for j, b in enumerate(data)) & _MASK
        h = _fmix_int(h ^ (len(data) * int(_LEN_MIX)) & _MASK)
        acc = (acc + h * pow(_WORD_P, k, 1 << 64)) & _MASK
    return _fmix_int(acc ^ (n * int(_LEN_MIX)) & _MASK)


def _fmix_int(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _MASK
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _MASK
    return h ^ (h >> 33)
