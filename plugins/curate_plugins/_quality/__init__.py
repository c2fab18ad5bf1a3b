"""Helpers of the LLM quality plugins (Seed-Coder's "let the code model curate data for itself").

- ``prompt``: the versioned oracle prompt and its rendering, code fenced as data;
- ``parse``: reading ``Rating: [[X]]`` out of real-world answers, and expected values from log-probabilities;
- ``cache``: the label cache, keyed by content hash and prompt version;
- ``backends``: ``transformers`` (CPU), ``openai`` (any OpenAI-compatible server) and ``vllm`` (offline engine);
- ``labeller``: cache lookups, batching, retry of unparsable answers;
- ``features``/``scorer``: the distilled fast scorer; ``sketch``: the streaming quantile sketch;
- ``cli``: ``curate label`` and ``curate train scorer``;
- ``proxy``/``proxy_server``: a PROXY rubric labeller and a local OpenAI-compatible server around it (tests,
  demos, benchmarks where no LLM can run; not Seed-Coder-like quality);
- ``tiny``: a tiny random Llama with a locally trained tokenizer (tests; its ratings are noise).
"""
