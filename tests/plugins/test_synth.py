"""The synthetic-data helpers: reading code and tests out of real-world answers, and the decision rules of
KodCode (difficulty), CodeDPO (mutual scores, pairs) and AceCoder (pairs) on hand-checked inputs."""

from __future__ import annotations

import pytest

from curate_plugins._synth.extract import (
    assert_tests,
    code_blocks,
    has_assertion,
    solution_code,
    split_solution_and_tests,
)
from curate_plugins._synth.ranking import (
    acecoder_pairs,
    correctness_pair,
    difficulty,
    efficiency_pair,
    mutual_scores,
    trusted_tests,
)

TWO_BLOCKS = """Here is the solution:

```python
def add(a, b):
    return a + b
```

And the tests:

```python
import pytest
from solution import add

@pytest.mark.parametrize("a,b,c", [(1, 2, 3), (0, 0, 0)])
def test_add(a, b, c):
    assert add(a, b) == c

def test_negative():
    assert add(-1, -1) == -2

if __name__ == "__main__":
    pytest.main()
```
"""


def test_solution_and_tests_are_told_apart_with_imports_and_decorators_kept():
    split = split_solution_and_tests(TWO_BLOCKS)
    assert split.ok and split.solution == "def add(a, b):\n    return a + b\n"
    assert len(split.tests) == 2
    assert split.tests[0].startswith("import pytest\nfrom solution import add\n@pytest.mark.parametrize")
    assert split.tests[1].endswith("assert add(-1, -1) == -2") and "pytest.main" not in "".join(split.tests)


@pytest.mark.parametrize("answer, solution, tests", [
    ("```\ndef f(x):\n    return x\nassert f(1) == 1\nassert f(2) == 2\n```", "def f(x):\n    return x\n", 2),
    ("def f(x):\n    return x * 2\n", "def f(x):\n    return x * 2\n", 0),  # bare code, no fence
    ("```python\ndef f(x):\n    return x\n```\nOutput:\n```text\n1\n```", "def f(x):\n    return x\n", 0),
    ("```python\ndef f(x):\n    return x", "def f(x):\n    return x\n", 0),  # unclosed fence (hit max_tokens)
])
def test_real_world_answer_shapes(answer, solution, tests):
    split = split_solution_and_tests(answer)
    assert split.solution == solution and len(split.tests) == tests


def test_calls_that_only_run_the_tests_are_not_part_of_the_solution():
    # real SmolLM2 answers: the tests called at top level, or from a __main__ block, next to the solution
    answer = ("```python\ndef is_even(n):\n    return n % 2 == 0\n\ndef test_is_even():\n    assert is_even(2)\n\n"
              "test_is_even()\nprint(test_is_even())\nif __name__ == '__main__':\n    test_is_even()\n```")
    split = split_solution_and_tests(answer)
    assert split.solution == "def is_even(n):\n    return n % 2 == 0\n" and len(split.tests) == 1
    kept = split_solution_and_tests("```python\ndef f():\n    return 1\nprint(f())\n```")
    assert "print(f())" in kept.solution  # a call of the solution itself stays


@pytest.mark.parametrize("answer, problem", [
    ("I'm sorry, I can't help with that.", "unparsable"),
    ("```python\ndef f(:\n```", "unparsable"),
    ("```python\nassert f(1) == 1\n```", "no_solution"),
])
def test_answers_without_usable_code_say_why(answer, problem):
    assert split_solution_and_tests(answer).problem.startswith(problem)


def test_helpers_for_single_purpose_answers():
    assert code_blocks("no code here") == []
    assert solution_code("```python\ndef g():\n    return 1\nassert g() == 1\n```") == "def g():\n    return 1\n"
    assert assert_tests("```python\nassert g() == 1\nassert g() != 2\nx = 1\n```") == ["assert g() == 1",
                                                                                       "assert g() != 2"]
    assert has_assertion("def test_a():\n    with pytest.raises(ValueError):\n        f()")
    assert not has_assertion("def test_a():\n    f(1)") and not has_assertion("def broken(:")
    # a real SmolLM2 test: the assert sits in a helper the test defines but never calls
    assert not has_assertion("def test_r():\n    def helper():\n        assert f(1) == 2\n")
    assert has_assertion("class TestR:\n    def test_a(self):\n        self.assertEqual(f(1), 1)")
    assert has_assertion("def test_a():\n    for x in [1]:\n        assert f(x)")


@pytest.mark.parametrize("passes, attempts, label", [
    (10, 10, "easy"), (7, 10, "easy"), (2, 3, "medium"), (5, 10, "medium"), (1, 3, "medium"), (3, 10, "hard"),
    (1, 10, "hard"), (0, 10, "unsolved")])
def test_kodcode_difficulty_bounds(passes, attempts, label):
    assert difficulty(passes, attempts) == label


def test_mutual_scores_by_hand():
    # code 0 passes both tests, code 1 passes test 0, code 2 passes nothing
    matrix = [[1, 1], [1, 0], [0, 0]]
    code, test = mutual_scores(matrix, damping=0.85, iterations=1, normalize=False)
    assert code == pytest.approx([0.15 + 0.85 * 2, 0.15 + 0.85 * 1, 0.15])
    assert test == pytest.approx([0.15 + 0.85 * 2, 0.15 + 0.85 * 1])
    code, test = mutual_scores(matrix)  # paper defaults: 10 iterations, d = 0.85, normalised
    assert code[0] > code[1] > code[2] and test[0] > test[1]
    assert all(0 <= s <= 1 for s in code + test)
    assert mutual_scores([[1, 1], [1, 1]]) == ([1.0, 1.0], [1.0, 1.0])  # all pass: nothing to rank


def test_mutual_scores_trust_tests_that_good_code_passes():
    # a wrong test (column 2) is passed only by the wrong code (row 2); columns 0,1 by the two right codes
    matrix = [[1, 1, 0], [1, 1, 0], [0, 0, 1]]
    code, test = mutual_scores(matrix)
    assert code[0] == code[1] > code[2] and test[0] == test[1] > test[2]
    assert correctness_pair(code, ["a", "b", "c"]) == (0, 2)
    assert trusted_tests(matrix, 0) == [0, 1]


def test_correctness_pair_needs_separated_scores_and_different_code():
    assert correctness_pair([1.0, 1.0, 1.0], ["a", "b", "c"]) is None
    assert correctness_pair([0.9, 0.1], ["x = 1", " x = 1\n"]) is None
    assert correctness_pair([0.2, 0.9, 0.1], ["a", "b", "c"]) == (1, 2)


def test_efficiency_pair_needs_a_real_difference():
    matrix = [[1, 1], [1, 1], [1, 0]]
    codes = ["fast", "slow", "wrong"]
    assert efficiency_pair(matrix, {0: 0.01, 1: 0.10, 2: 0.0001}, [0, 1], codes, 1.5, 0.005) == (0, 1)
    assert efficiency_pair(matrix, {0: 0.010, 1: 0.012}, [0, 1], codes, 1.5, 0.005) is None  # ratio 1.2: noise
    assert efficiency_pair(matrix, {0: 0.0001, 1: 0.0004}, [0, 1], codes, 1.5, 0.005) is None  # 0.3 ms: noise
    assert efficiency_pair(matrix, {0: 0.01, 1: 0.1}, [], codes, 1.5, 0.005) is None  # nothing trusted


def test_acecoder_pair_rule():
    rates = [1.0, 5 / 6, 1 / 3, 0.0, 0.5, 0.9]
    codes = ["a", "b", "c", "d", "e", "a"]
    pairs = acecoder_pairs(rates, codes)
    # chosen: s > 0.8 -> 0, 5, 1; rejected: s > 0 and gap >= 0.4 -> 2 (and 4 for chosen 0 and 5); never identical
    assert pairs == [(0, 2), (0, 4), (5, 2), (5, 4), (1, 2)]
    assert acecoder_pairs([0.8, 0.3], ["a", "b"]) == []  # 0.8 is not above 0.8
    assert acecoder_pairs([1.0, 0.0], ["a", "b"]) == []  # s_j must be above 0
