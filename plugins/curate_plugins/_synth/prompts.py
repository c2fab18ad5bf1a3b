"""The prompts of the three methods, versioned: completions are cached per prompt version, so a changed prompt
must get a new version (the constant's suffix) and is then asked again.

They follow the papers' instructions (KodCode: a solution and pytest unit tests in one answer; CodeDPO:
solutions and test cases sampled separately; AceCoder: seed code rewritten into a self-contained question with
about 20 assert tests), written short enough for small instruct models to follow.
"""

from __future__ import annotations

SYSTEM = "You are an expert Python programmer. You write correct, efficient code and precise tests."

KODCODE_VERSION = "kodcode_v1"
KODCODE = """Solve this task in Python.

Task:
{question}

Answer with two Python code blocks:
1. the solution;
2. pytest unit tests for it: functions named test_... that call the solution and assert on its results.
"""

CODEDPO_SOLUTION_VERSION = "codedpo_solution_v1"
CODEDPO_SOLUTION = """Solve this task in Python.

Task:
{question}

Answer with the solution in one Python code block.
"""

CODEDPO_TEST_VERSION = "codedpo_test_v1"
CODEDPO_TEST = """Write test cases for a correct Python solution of this task.

Task:
{question}

Answer with one Python code block of {per_answer} assert statements that call the solution, for example:
assert function_name(arguments) == expected_result
"""

ACECODER_QUESTION_VERSION = "acecoder_question_v1"
ACECODER_QUESTION = """Here is a piece of Python code:

```python
{seed}
```

Write a self-contained coding question that this code answers: say what the function is called, what it takes
and what it returns. Then write {tests} test cases for it as assert statements.

Answer in this format:
Question: <the question>
Tests:
```python
assert ...
```
"""

ACECODER_SOLUTION_VERSION = "acecoder_solution_v1"
ACECODER_SOLUTION = CODEDPO_SOLUTION


def chat(user: str, system: str = SYSTEM) -> list[dict]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]
