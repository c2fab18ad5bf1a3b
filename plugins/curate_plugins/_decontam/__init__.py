"""Helpers of the ``ngram_decontaminate`` stage: normaliser, benchmark registry, n-gram index, CLI."""
