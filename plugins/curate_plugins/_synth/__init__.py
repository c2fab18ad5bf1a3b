"""Helpers of the verified synthetic-data plugins (``kodcode``, ``codedpo``, ``acecoder``, ``trl_export``).

- ``prompts``: the versioned prompts of the three methods;
- ``extract``: code, solutions and tests read out of real model answers;
- ``ranking``: difficulty, mutual scores, correctness/efficiency pairs, AceCoder pairs (pure functions);
- ``records``: output documents and per-test verdicts from sandbox results;
- ``step``: the shared Params and the batching Transform (one LLM call and one sandbox run per batch);
- ``data/``: the embedded question and seed sets of the offline pipelines (with their licences).
"""
