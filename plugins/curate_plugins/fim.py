"""Fill-in-the-middle (FIM) rearrangement of documents, SPM or PSM, as in Seed-Coder's pretraining."""

from __future__ import annotations

import random
from typing import Literal

import xxhash
from pydantic import Field, model_validator

from curate import PluginMetadata, PluginParams, Transform


class Fim(Transform):
    """Rewrites a share `rate` of documents into fill-in-the-middle form (Bavarian et al. 2022; Seed-Coder
    uses SPM with a random character-level split, rate 0.5 in pretraining and 0.1 in continued pretraining).

    Two split points are drawn uniformly over the characters of the text, giving prefix, middle and suffix:
    - SPM: `{suffix_token}suffix{prefix_token}prefix{middle_token}middle` (Seed-Coder's format);
    - PSM: `{prefix_token}prefix{suffix_token}suffix{middle_token}middle`.
    Whether a document is rewritten, and where it is split, depend only on `seed` and the document id, so a
    rerun gives the same output. The lengths go to `fim.prefix_chars`, `fim.middle_chars`, `fim.suffix_chars`,
    so `fim_parts()` gets the three parts back exactly even if the text contains the sentinels.
    Documents are never dropped; untouched ones get `fim.applied = false`.
    """

    namespace = "fim"

    class Metadata(PluginMetadata):
        applied: bool = Field(description="The document was rewritten into FIM form.")
        format: str = Field(description="`psm` or `spm`.")
        prefix_chars: int = Field(description="Characters of the prefix.")
        middle_chars: int = Field(description="Characters of the middle.")
        suffix_chars: int = Field(description="Characters of the suffix.")

    class Params(PluginParams):
        rate: float = Field(0.5, ge=0.0, le=1.0, description="Share of documents rewritten (Seed-Coder: 0.5 in "
                                                             "pretraining, 0.1 in continued pretraining).")
        format: Literal["spm", "psm"] = Field("spm", description="Order of the parts: suffix-prefix-middle "
                                                                "(Seed-Coder) or prefix-suffix-middle.")
        spm_rate: float | None = Field(None, ge=0.0, le=1.0, description="If set, each rewritten document is SPM "
                                       "with this probability and PSM otherwise (`format` is then ignored).")
        prefix_token: str = Field("<|fim_prefix|>", description="Sentinel before the prefix.")
        middle_token: str = Field("<|fim_middle|>", description="Sentinel before the middle.")
        suffix_token: str = Field("<|fim_suffix|>", description="Sentinel before the suffix.")
        seed: int = Field(0, description="Seed; with the document id it fixes the choice and the split.")
        min_chars: int = Field(1, ge=1, description="Documents shorter than this are left as they are.")

        @model_validator(mode="after")
        def _distinct_sentinels(self):
            tokens = [self.prefix_token, self.middle_token, self.suffix_token]
            if not all(tokens) or len(set(tokens)) != 3:
                raise ValueError("prefix_token, middle_token and suffix_token must be three different non-empty "
                                 "strings")
            return self

    def transform(self, doc):
        p = self.params
        rng = random.Random(xxhash.xxh64_intdigest(f"{p.seed}\x00{doc.id}".encode("utf-8", "surrogatepass")))
        applied = rng.random() < p.rate and len(doc.text) >= p.min_chars
        if not applied:
            doc.metadata["fim.applied"] = False
            return (doc,)
        fmt = p.format if p.spm_rate is None else ("spm" if rng.random() < p.spm_rate else "psm")
        n = len(doc.text)
        start, end = sorted((rng.randint(0, n), rng.randint(0, n)))
        prefix, middle, suffix = doc.text[:start], doc.text[start:end], doc.text[end:]
        if fmt == "spm":
            doc.text = f"{p.suffix_token}{suffix}{p.prefix_token}{prefix}{p.middle_token}{middle}"
        else:
            doc.text = f"{p.prefix_token}{prefix}{p.suffix_token}{suffix}{p.middle_token}{middle}"
        doc.metadata.update({"fim.applied": True, "fim.format": fmt, "fim.prefix_chars": len(prefix),
                             "fim.middle_chars": len(middle), "fim.suffix_chars": len(suffix)})
        return (doc,)


def fim_parts(text: str, metadata: dict, params: Fim.Params | None = None) -> tuple[str, str, str]:
    """(prefix, middle, suffix) of a document rewritten by `Fim`, from its text and metadata."""
    p = params or Fim.Params()
    lp, lm, ls = metadata["fim.prefix_chars"], metadata["fim.middle_chars"], metadata["fim.suffix_chars"]
    if metadata["fim.format"] == "spm":
        a = len(p.suffix_token)
        suffix = text[a:a + ls]
        b = a + ls + len(p.prefix_token)
        prefix = text[b:b + lp]
        c = b + lp + len(p.middle_token)
    else:
        a = len(p.prefix_token)
        prefix = text[a:a + lp]
        b = a + lp + len(p.suffix_token)
        suffix = text[b:b + ls]
        c = b + ls + len(p.middle_token)
    middle = text[c:c + lm]
    if c + lm != len(text):
        raise ValueError("text and fim.* lengths disagree")
    return prefix, middle, suffix
