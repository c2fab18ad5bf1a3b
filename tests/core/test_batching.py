"""Batch hooks: documents reach filter_batch / annotate_batch in batches of the configured size; an exception in
a batch is charged to the document that raised, and the base class keeps every count."""

from __future__ import annotations

import pytest
from pydantic import Field

from curate import Annotator, Filter, PluginMetadata, RunContext
from curate.schema import UndeclaredMetadata
from curate.testing import apply_step, make_doc


class Shouty(Filter):
    """Test filter: drops texts containing 'bad' (reason `bad`); raises on texts containing 'boom'."""

    namespace = "shout"
    default_batch_size = 4

    class Metadata(PluginMetadata):
        seen_in_batch_of: int = Field(description="Size of the batch the document arrived in.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.batches: list[int] = []

    def filter(self, doc):
        raise AssertionError("the batch hook must be used")

    def filter_batch(self, batch):
        self.batches.append(len(batch))
        if any("boom" in d.text for d in batch):
            raise ValueError("boom in batch")
        for doc in batch:
            doc.metadata["shout.seen_in_batch_of"] = len(batch)
        return [(False, "bad") if "bad" in d.text else True for d in batch]


class Counting(Annotator):
    """Test annotator: writes the length of each text; raises on 'boom'."""

    namespace = "count"

    class Metadata(PluginMetadata):
        chars: int = Field(description="Characters of the text.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.batches: list[int] = []

    def annotate_batch(self, batch):
        self.batches.append(len(batch))
        for doc in batch:
            if "boom" in doc.text:
                raise RuntimeError("cannot count")
            doc.metadata["count.chars"] = len(doc.text)


def _docs(texts):
    return [make_doc(t, f"d{i}") for i, t in enumerate(texts)]


def test_a_filter_gets_batches_of_its_default_size_and_keeps_datatrove_verdicts():
    step = Shouty()
    result = apply_step(step, _docs(["a", "bad", "c", "d", "e", "bad again", "g", "h", "i"]))
    assert step.batches == [4, 4, 1]
    assert [d.id for d in result.kept] == ["d0", "d2", "d3", "d4", "d6", "d7", "d8"]
    assert result.reasons == {"d1": "bad", "d5": "bad"}
    assert result.kept[0].metadata["shout.seen_in_batch_of"] == 4


def test_the_step_batch_size_overrides_the_plugin_default():
    step = Shouty(context=RunContext(batch_size=2))
    apply_step(step, _docs(["a", "b", "c", "d", "e"]))
    assert step.batches == [2, 2, 1]


def test_an_exception_in_a_batch_is_charged_to_the_document_that_raised():
    step = Shouty()
    result = apply_step(step, _docs(["a", "boom", "bad", "d", "e"]))
    # the first batch failed, then ran one document at a time; the second batch ran whole
    assert step.batches == [4, 1, 1, 1, 1, 1]
    assert [d.id for d in result.kept] == ["d0", "d3", "d4"]
    assert result.reasons == {"d1": "error:ValueError", "d2": "bad"}
    boom = next(d for d in result.dropped if d.id == "d1")
    assert "boom in batch" in boom.metadata["drop.error"]


def test_annotate_batch_errors_are_per_document_and_nothing_is_lost():
    step = Counting(context=RunContext(batch_size=3))
    result = apply_step(step, _docs(["ab", "boom", "abcd", "x"]))
    assert step.batches == [3, 1, 1, 1, 1]
    assert {d.id: d.metadata["count.chars"] for d in result.kept} == {"d0": 2, "d2": 4, "d3": 1}
    assert result.reasons == {"d1": "error:RuntimeError"}


def test_a_batch_hook_returning_the_wrong_number_of_verdicts_is_an_error_per_document():
    class Short(Shouty):
        def filter_batch(self, batch):
            return [True] * (len(batch) - 1)

    result = apply_step(Short(), _docs(["a", "b"]))
    assert result.reasons == {"d0": "error:ValueError", "d1": "error:ValueError"}
    assert "returned 0 results for 1 documents" in result.dropped[0].metadata["drop.error"]


def test_strict_mode_raises_the_batch_error():
    with pytest.raises(ValueError, match="boom in batch"):
        apply_step(Shouty(context=RunContext(strict=True)), _docs(["boom"]))


def test_a_plain_filter_with_a_batch_size_still_sees_one_document_per_call():
    class Plain(Filter):
        """Test filter: keeps short texts."""

        def filter(self, doc):
            return len(doc.text) < 3 or (False, "long")

    result = apply_step(Plain(context=RunContext(batch_size=8)), _docs(["a", "long text", "b"]))
    assert [d.id for d in result.kept] == ["d0", "d2"] and result.reasons == {"d1": "long"}


def test_a_plugin_that_writes_an_undeclared_key_fails_its_tests():
    class Sloppy(Annotator):
        """Test annotator: writes a key it does not declare."""

        def annotate(self, doc):
            doc.metadata["sloppy.score"] = 1.0

    with pytest.raises(UndeclaredMetadata, match="'sloppy.score', which it does not declare"):
        apply_step(Sloppy(), _docs(["a"]))


def test_a_value_of_the_wrong_type_fails_its_tests():
    class Mistyped(Counting):
        def annotate_batch(self, batch):
            for doc in batch:
                doc.metadata["count.chars"] = "many"

    with pytest.raises(UndeclaredMetadata, match="count.chars='many'"):
        apply_step(Mistyped(context=RunContext(strict=True)), _docs(["a"]))
