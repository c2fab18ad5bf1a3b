from curate.testing import apply_step, make_doc
from curate_plugins.web_heuristics import WebHeuristics


def test_min_and_max_word_counts_have_their_reasons():
    docs = [make_doc("one two three", "short"), make_doc(" ".join(["word"] * 10), "ten"),
            make_doc(" ".join(["word"] * 500), "long")]
    assert apply_step(WebHeuristics(), docs).reasons == {"short": "too_few_words"}
    result = apply_step(WebHeuristics(min_words=3, max_words=100), docs)
    assert result.reasons == {"long": "too_many_words"}
    assert [d.id for d in result.kept] == ["short", "ten"]
