"""A tiny random Llama and a locally trained tokenizer, for tests, demos and benchmarks without downloads.

Its ratings are meaningless as quality (random weights): it exercises the real generate and log-probability
code paths of the ``transformers`` backend, nothing more.
"""

from __future__ import annotations

from pathlib import Path

_SEED_TEXT = [
    "Rating: [[0]] Rating: [[1]] Rating: [[2]] Rating: [[3]] Rating: [[4]] Rating: [[5]] Rating: [[6]] "
    "Rating: [[7]] Rating: [[8]] Rating: [[9]] Rating: [[10]]",
    "def main(argv):\n    return 0\nclass Parser:\n    pass\nfunction f(x) { return x; }\n#include <stdio.h>\n",
    "You are an expert software engineer reviewing source files. Readability Modularity Clarity Reusability",
]


def build_tiny_llama(target: str | Path, corpus: list[str] | None = None, vocab_size: int = 512, hidden: int = 32,
                     layers: int = 2, seed: int = 0) -> Path:
    """Train a byte-level BPE tokenizer on ``corpus`` and save a random Llama with it in ``target``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    target = Path(target)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    # digits stay single tokens, so "10" is "1","0" and the next-token digit distribution is 0..9
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<s>", "</s>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                       pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tokenizer.train_from_iterator(list(corpus or []) + _SEED_TEXT * 4, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(fast), hidden_size=hidden, intermediate_size=hidden * 2,
                         num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=2,
                         max_position_embeddings=16384, bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
                         pad_token_id=fast.pad_token_id, tie_word_embeddings=True)
    model = LlamaForCausalLM(config)
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target)
    fast.save_pretrained(target)
    return target
