"""The pairwise judge: parsing its structured reply, and undoing the shuffled order."""

from __future__ import annotations

import random

import pytest

from orchestrator.eval.judge import JudgeError, Verdict, attribute, judge_messages, judge_pair, parse_verdict


def test_parse_a_verdict_in_json_or_around_words():
    assert parse_verdict('{"accuracy": 1, "grammar": 0, "detail": 2, "preference": 1}') == Verdict(
        accuracy=1, grammar=0, detail=2, preference=1)
    fenced = 'Sure.\n```json\n{"accuracy": 0, "grammar": 0, "detail": 0, "preference": 2}\n```'
    assert parse_verdict(fenced).preference == 2


@pytest.mark.parametrize("reply, message", [
    ("answer 1 is better", "judge reply has no JSON object"),
    ('{"accuracy": 3, "grammar": 0, "detail": 0, "preference": 0}', "judge reply is not a verdict"),
    ('{"accuracy": 1}', "judge reply is not a verdict"),
])
def test_a_reply_that_is_no_verdict_is_a_judge_error(reply, message):
    with pytest.raises(JudgeError, match=message):
        parse_verdict(reply)


def test_attribute_undoes_the_order_shown():
    verdict = Verdict(accuracy=1, grammar=2, detail=0, preference=1)
    assert attribute(verdict, serial_first=True) == {"accuracy": "serial", "grammar": "parallel", "detail": "tie",
                                                     "preference": "serial"}
    assert attribute(verdict, serial_first=False) == {"accuracy": "parallel", "grammar": "serial", "detail": "tie",
                                                      "preference": "parallel"}


async def test_judge_pair_shuffles_and_the_winner_follows_the_answer_not_the_position():
    seen = []

    async def complete(messages):
        user = messages[1]["content"]
        seen.append(user.index("PARALLEL") < user.index("SERIAL"))
        first_is_parallel = seen[-1]
        return '{"accuracy": 0, "grammar": 0, "detail": 0, "preference": %d}' % (1 if first_is_parallel else 2)

    rng = random.Random(3)
    outcomes = [await judge_pair(complete, "request", "SERIAL", "PARALLEL", rng) for _ in range(20)]
    assert {o.serial_first for o in outcomes} == {True, False}
    assert all(o.winners["preference"] == "parallel" for o in outcomes)
    assert [not o.serial_first for o in outcomes] == seen


def test_messages_label_the_answers_in_order():
    messages = judge_messages("Q?", "first text", "second text")
    assert messages[0]["role"] == "system" and '"preference": 0|1|2' in messages[0]["content"]
    user = messages[1]["content"]
    assert user.index("[Answer 1]\nfirst text") < user.index("[Answer 2]\nsecond text")
