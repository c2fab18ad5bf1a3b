"""datatrove's word-tokenizer interface over curate's identifier tokens, so datatrove's own MinHash stages
can shingle exactly as ``minhash_dedup`` does (their default tokenizer needs spaCy). Used by the benchmark."""

from __future__ import annotations

from datatrove.utils.word_tokenizers import WordTokenizer

from curate_plugins._minhash.hashing import tokens


class IdentifierTokenizer(WordTokenizer):
    """Tokens are runs of identifier characters, as in ``curate_plugins._minhash.hashing.tokens``."""

    def word_tokenize(self, text: str) -> list[str]:
        return [t.decode("utf-8", "surrogatepass") for t in tokens(text)]

    def sent_tokenize(self, text: str) -> list[str]:
        return [text]

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        raise NotImplementedError("IdentifierTokenizer only tokenizes words")


def xxhash64_utf8(text: str) -> int:
    """datatrove's shingle hash (xxh64) on UTF-8 bytes: xxhash 4 no longer accepts ``str``, which breaks
    datatrove 0.10.1's ``MinhashDedupSignature`` with its default ``hash_fc="xxhash"``."""
    import xxhash

    return xxhash.xxh64_intdigest(text.encode("utf-8", "surrogatepass"))
