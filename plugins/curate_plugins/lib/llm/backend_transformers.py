"""The ``transformers`` backend: a local causal LM on the CPU (or any torch device), never downloading.

Prompts are sorted by length so a batch pads little; ``n`` samples of a prompt are generated in one call
(``num_return_sequences``). Each batch is seeded from the sampling seed and its own prompts, so the same
batch samples the same completions whatever ran before it.
"""

from __future__ import annotations

import hashlib

from curate_plugins.lib.llm.backend import Backend, Completion, apply_chat_template, cut_at_stop
from curate_plugins.lib.llm.config import BackendConfig, Sampling
from curate_plugins.lib.llm.models import resolve_model


class TransformersBackend(Backend):
    def __init__(self, config: BackendConfig):
        super().__init__(config)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        if config.torch_threads:
            torch.set_num_threads(config.torch_threads)
        self.torch = torch
        self.path = resolve_model(config.model)
        self.tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        dtype = "auto" if config.dtype == "auto" else getattr(torch, config.dtype)
        self.model = AutoModelForCausalLM.from_pretrained(self.path, local_files_only=True, dtype=dtype)
        self.model.eval()
        self._forced_ids: list[int] = []

    @property
    def model_id(self) -> str:
        """A converted GGUF is identified by its content hash too (a new wheel is a new model)."""
        if self.path == self.config.model:
            return super().model_id
        return f"{super().model_id}@{self.path.rstrip('/').rsplit('/', 1)[-1]}"

    def generate(self, prompts, sampling: Sampling, *, prefill="", score_tokens=()):
        self._forced_ids = self._single_token_ids(score_tokens)
        texts = [apply_chat_template(self.tokenizer, p, prefill, self.config.chat_template) for p in prompts]
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths share a batch: less padding
        out: list[list[Completion]] = [[] for _ in texts]
        per_call = max(1, self.config.batch_size // sampling.n)  # batch_size counts sequences, samples included
        for start in range(0, len(order), per_call):
            rows = order[start:start + per_call]
            batch = [texts[i] for i in rows]
            if sampling.max_tokens == 1 and sampling.temperature == 0 and sampling.n == 1:
                done = [[c] for c in self._next_token(batch, sampling.logprobs)]
            else:
                done = self._generate(batch, sampling)
            for i, group in zip(rows, done):
                out[i] = group
        return out

    def _next_token(self, texts, logprobs):
        """One greedy token: a single forward pass that keeps only the last position's logits."""
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with self.torch.inference_mode():
            logits = self.model(**enc, logits_to_keep=1).logits[:, -1, :]
        new_ids = logits.argmax(dim=-1, keepdim=True)
        tops = self._top_logprobs([logits], max(logprobs, 1), new_ids)
        lengths = enc["attention_mask"].sum(dim=1).tolist()
        return [self._completion(new_ids[i].tolist(), tops, i, lengths[i], []) for i in range(len(texts))]

    def _generate(self, texts, sampling: Sampling):
        torch = self.torch
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        if sampling.temperature > 0:
            options = {"do_sample": True, "temperature": sampling.temperature, "top_p": sampling.top_p}
            torch.manual_seed(_batch_seed(self.seed_of(sampling), texts))
        else:
            options = {"do_sample": False, "temperature": None, "top_p": None}
        if sampling.stop:
            options.update(stop_strings=list(sampling.stop), tokenizer=self.tokenizer)
        with torch.inference_mode():
            result = self.model.generate(**enc, max_new_tokens=sampling.max_tokens, return_dict_in_generate=True,
                                         output_logits=sampling.logprobs > 0, pad_token_id=self.tokenizer.pad_token_id,
                                         num_return_sequences=sampling.n, top_k=None, **options)
        new_ids = result.sequences[:, enc["input_ids"].shape[1]:]
        tops = None
        if sampling.logprobs > 0:
            tops = self._top_logprobs(result.logits, sampling.logprobs, new_ids)
        prompt_lengths = enc["attention_mask"].sum(dim=1).tolist()
        rows = [self._completion(new_ids[r].tolist(), tops, r, prompt_lengths[r // sampling.n], sampling.stop)
                for r in range(new_ids.shape[0])]
        return [rows[i * sampling.n:(i + 1) * sampling.n] for i in range(len(texts))]

    def _top_logprobs(self, logits, k, chosen_ids):
        """Per step: the top-k (token id, log-probability) of every row, and each row's chosen token's."""
        steps = []
        for position, step_logits in enumerate(logits):
            logp = self.torch.log_softmax(step_logits.float(), dim=-1)
            values, ids = logp.topk(min(k, logp.shape[-1]), dim=-1)
            if self._forced_ids:  # the full distribution is at hand: always report the rating tokens too
                forced = self.torch.tensor(self._forced_ids).expand(ids.shape[0], -1)
                ids, values = self.torch.cat([ids, forced], 1), self.torch.cat([values, logp.gather(1, forced)], 1)
            chosen = logp.gather(1, chosen_ids[:, position:position + 1]).squeeze(1) \
                if position < chosen_ids.shape[1] else values[:, 0]
            steps.append((ids.tolist(), values.tolist(), chosen.tolist()))
        return steps

    def _single_token_ids(self, texts) -> list[int]:
        ids = [self.tokenizer.encode(t, add_special_tokens=False) for t in texts]
        return [i[0] for i in ids if len(i) == 1]

    def _by_text(self, ids, values) -> dict[str, float]:
        """{decoded token: log-probability}; ids that decode to the same text have their probabilities added."""
        out: dict[str, float] = {}
        for token_id, value in dict(zip(ids, values)).items():
            text = self.tokenizer.decode([token_id])
            out[text] = float(self.torch.logaddexp(self.torch.tensor(out[text]), self.torch.tensor(value))) \
                if text in out else value
        return out

    def _completion(self, ids, tops, row, prompt_length, stop):
        specials = {self.tokenizer.eos_token_id, self.tokenizer.pad_token_id} - {None}
        ended = next((i for i, t in enumerate(ids) if t in specials), None)
        if ended is not None:
            ids = ids[:ended]
        tokens = [self.tokenizer.decode([t]) for t in ids]
        top_logprobs, token_logprobs = [], []
        if tops is not None:  # the step that produced EOS is kept: expected-value mode may need it
            for step in range(min(len(tops), len(ids) + 1)):
                top_logprobs.append(self._by_text(tops[step][0][row], tops[step][1][row]))
                if step < len(ids):
                    token_logprobs.append(float(tops[step][2][row]))
        text, stopped = cut_at_stop(self.tokenizer.decode(ids, skip_special_tokens=True), stop)
        finish = "stop" if ended is not None or stopped else "length"
        return Completion(text=text, tokens=tokens, token_logprobs=token_logprobs, top_logprobs=top_logprobs,
                          prompt_tokens=int(prompt_length), completion_tokens=len(ids), finish_reason=finish)


def _batch_seed(seed: int, texts: list[str]) -> int:
    digest = hashlib.sha256("\0".join(texts).encode("utf-8", "surrogatepass")).digest()
    return (seed * 1_000_003 + int.from_bytes(digest[:6], "big")) % (2 ** 63)
