"""The ``transformers`` backend: a local causal LM on the CPU (or any torch device), never downloading."""

from __future__ import annotations

from curate_plugins._quality.backends import BackendConfig, Completion, OracleBackend, apply_chat_template


class TransformersBackend(OracleBackend):
    def __init__(self, config: BackendConfig):
        super().__init__(config)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if config.torch_threads:
            torch.set_num_threads(config.torch_threads)
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(config.model, local_files_only=True)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        dtype = "auto" if config.dtype == "auto" else getattr(torch, config.dtype)
        self.model = AutoModelForCausalLM.from_pretrained(config.model, local_files_only=True, dtype=dtype)
        self.model.eval()

    def complete(self, prompts, *, max_tokens, temperature=0.0, logprobs=0, prefill="", score_tokens=()):
        self._forced_ids = self._single_token_ids(score_tokens)
        texts = [apply_chat_template(self.tokenizer, p, prefill, self.config.chat_template) for p in prompts]
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths share a batch: less padding
        out: list[Completion | None] = [None] * len(texts)
        for start in range(0, len(order), self.config.batch_size):
            rows = order[start:start + self.config.batch_size]
            batch = [texts[i] for i in rows]
            if max_tokens == 1 and temperature == 0:
                done = self._next_token(batch, logprobs)
            else:
                done = self._generate(batch, max_tokens, temperature, logprobs)
            for i, completion in zip(rows, done):
                out[i] = completion
        return out

    def _next_token(self, texts, logprobs):
        """One greedy token: a single forward pass that keeps only the last position's logits."""
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with self.torch.inference_mode():
            logits = self.model(**enc, logits_to_keep=1).logits[:, -1, :]
        new_ids = logits.argmax(dim=-1, keepdim=True)
        tops = self._top_logprobs([logits], max(logprobs, 1))
        lengths = enc["attention_mask"].sum(dim=1).tolist()
        return [self._completion(new_ids[i].tolist(), tops, i, lengths[i]) for i in range(len(texts))]

    def _generate(self, texts, max_tokens, temperature, logprobs):
        torch = self.torch
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
        if temperature > 0:
            torch.manual_seed(self.config.seed)
        with torch.inference_mode():
            result = self.model.generate(**enc, max_new_tokens=max_tokens, return_dict_in_generate=True,
                                         output_logits=logprobs > 0, pad_token_id=self.tokenizer.pad_token_id,
                                         top_k=None, top_p=None, **sampling)
        new_ids = result.sequences[:, enc["input_ids"].shape[1]:]
        tops = self._top_logprobs(result.logits, logprobs) if logprobs > 0 else None
        prompt_lengths = enc["attention_mask"].sum(dim=1).tolist()
        return [self._completion(new_ids[i].tolist(), tops, i, prompt_lengths[i]) for i in range(len(texts))]

    def _top_logprobs(self, logits, k):
        """Per step, the top-k (token id, log-probability) of every row, from the raw logits."""
        steps = []
        for step_logits in logits:
            logp = self.torch.log_softmax(step_logits.float(), dim=-1)
            values, ids = logp.topk(min(k, logp.shape[-1]), dim=-1)
            if self._forced_ids:  # the full distribution is at hand: always report the rating tokens too
                forced = self.torch.tensor(self._forced_ids).expand(ids.shape[0], -1)
                ids, values = self.torch.cat([ids, forced], 1), self.torch.cat([values, logp.gather(1, forced)], 1)
            steps.append((ids.tolist(), values.tolist()))
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

    def _completion(self, ids, tops, row, prompt_length):
        eos = self.tokenizer.eos_token_id
        if eos is not None and eos in ids:
            ids = ids[: ids.index(eos)]
        tokens = [self.tokenizer.decode([t]) for t in ids]
        top_logprobs = []
        if tops is not None:  # the step that produced EOS is kept: expected-value mode may need it
            for step in range(min(len(tops), len(ids) + 1)):
                top_logprobs.append(self._by_text(tops[step][0][row], tops[step][1][row]))
        return Completion(text=self.tokenizer.decode(ids, skip_special_tokens=True), tokens=tokens,
                          top_logprobs=top_logprobs, prompt_tokens=int(prompt_length), completion_tokens=len(ids))
