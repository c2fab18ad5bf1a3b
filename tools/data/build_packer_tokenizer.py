"""Build the byte-level BPE tokenizer that `repo_packer` ships to count tokens offline.

tiktoken downloads its BPE files on first use, which curate must never do at run time, so the packer ships
its own byte-level BPE: trained here with `tokenizers` on the embedded real code of examples/data/github
(seven open-source repositories, licences in that folder), then written in tiktoken's rank format
(base64 token, rank per line), which tiktoken encodes 3-4x faster than `tokenizers` on this machine.
Rebuild with:

    .venv/bin/python tools/data/build_packer_tokenizer.py

The result is deterministic for a given input and `tokenizers` version.
"""

from __future__ import annotations

import base64
import glob
import sys
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
OUT = REPO / "plugins" / "curate_plugins" / "_repo_pack" / "code_bpe_8k.tiktoken.txt"
SPECIAL = ["<|endoftext|>", "<|file_sep|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|repo_name|>"]


def texts():
    from curate.io import iter_shard

    for path in sorted(glob.glob(str(REPO / "examples" / "data" / "github" / "*.jsonl.zst"))):
        for rec in iter_shard(path):
            yield rec["text"]


def main() -> None:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=8192, min_frequency=2, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts(), trainer=trainer)
    decode = {char: byte for byte, char in _bytes_to_unicode().items()}
    lines = []
    for token, rank in sorted(tok.get_vocab().items(), key=lambda kv: kv[1]):
        if token not in SPECIAL:
            lines.append(f"{base64.b64encode(bytes(decode[c] for c in token)).decode()} {rank}")
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(lines)} ranks + {len(SPECIAL)} special tokens)")


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character map used by the byte-level pre-tokenizer."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = printable[:], 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(printable, chars)}


if __name__ == "__main__":
    main()
