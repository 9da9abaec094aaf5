"""Training data: the list heuristic, attention mask and position ids, and the two filters."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from graphs.pasta import TagKind, parse, remove_pasta
from graphs.pasta.training import (
    LatencyModel,
    Piece,
    annotate_lists,
    is_faster,
    next_token_agreement,
    pieces,
    predicted_latency,
    training_inputs,
)

RESPONSE = """Mobile devices have downsides:

1. Eye Strain: Screens tire the eyes.
2. Poor Posture: Hunching hurts the neck.
   It gets worse with time.
3. **Isolation** Less time with friends.

Balance matters."""


def test_list_heuristic_scopes_the_list_and_forks_each_elaboration() -> None:
    annotated = annotate_lists(RESPONSE)
    assert annotated == (
        "Mobile devices have downsides:\n\n<scope>1. Eye Strain:<promise/><async> Screens tire the eyes.</async>\n"
        "2. Poor Posture:<promise/><async> Hunching hurts the neck.\n   It gets worse with time.</async>\n"
        "3. **Isolation**<promise/><async> Less time with friends.</async></scope>\n\nBalance matters."
    )
    assert remove_pasta(annotated) == RESPONSE


def test_list_heuristic_leaves_responses_without_lists_alone() -> None:
    assert annotate_lists("Just one paragraph.\nAnd another line.") is None
    assert annotate_lists("- only one item: here") is None


def test_list_heuristic_handles_bullets_and_two_lists() -> None:
    text = "Pros:\n- Cheap: costs little.\n- Fast: done soon.\nCons:\n* Loud: very noisy.\n* Big: hard to store."
    annotated = annotate_lists(text)
    assert annotated is not None and annotated.count("<scope>") == 2 and annotated.count("<async>") == 4
    assert remove_pasta(annotated) == text


def tokens_of(*spec: str) -> list[Piece]:
    """Build tokens: tags by their source, anything else is a content token."""
    kinds = {kind.value: kind for kind in TagKind}
    return [Piece(text=s, tag=kinds.get(s)) for s in spec]


def test_attention_mask_position_ids_and_loss_mask() -> None:
    #                0    1         2    3            4          5    6    7           8    9           10
    seq = tokens_of("A", "<scope>", "B", "<promise/>", "<async>", "c", "d", "</async>", "E", "</scope>", "F")
    inputs = training_inputs(seq)
    assert inputs.sync_prefix == ((), (0,), (0,), (0, 2), (0, 2), (0, 2), (0, 2, 5), (0, 2, 5, 6), (0, 2), (0, 2, 8), (0, 2, 5, 6, 8))
    assert inputs.position_ids == (0, 1, 1, 2, 2, 2, 3, 4, 2, 3, 5)
    assert inputs.loss_mask == tuple(s.tag is not TagKind.ASYNC_OPEN for s in seq)
    assert inputs.loss_mask[4] is False
    row_e = inputs.attention[8]
    assert [j for j, seen in enumerate(row_e) if seen] == [0, 2, 8]  # E never sees the fork's c, d
    row_f = inputs.attention[10]
    assert [j for j, seen in enumerate(row_f) if seen] == [0, 2, 5, 6, 8, 10]  # after the join F sees them


def test_keep_tags_matches_what_the_interpreter_feeds_the_model() -> None:
    seq = tokens_of("<scope>", "B", "<promise/>", "<async>", "c", "</async>", "E", "</scope>", "F")
    inputs = training_inputs(seq, keep_tags=True)
    assert inputs.sync_prefix[4] == (0, 1, 2, 3)  # c: <scope> B <promise/> <async>
    assert inputs.sync_prefix[6] == (0, 1, 2)  # E: <scope> B <promise/>
    assert inputs.sync_prefix[8] == (1, 4, 6)  # F: joined scope, no tags
    assert inputs.position_ids[8] == 3


def test_plain_text_gets_a_causal_mask() -> None:
    inputs = training_inputs(tokens_of("a", "b", "c"))
    assert inputs.attention == ((True, False, False), (True, True, False), (True, True, True))
    assert inputs.position_ids == (0, 1, 2)


def test_pieces_tokenize_the_canonical_form() -> None:
    seq = pieces("<scope>Hi<async> there</async></scope>")
    assert [(p.text, p.tag) for p in seq] == [
        ("<scope>", TagKind.SCOPE_OPEN),
        ("Hi", None),
        ("<promise/>", TagKind.PROMISE),
        ("<async>", TagKind.ASYNC_OPEN),
        (" there", None),
        ("</async>", TagKind.ASYNC_CLOSE),
        ("</scope>", TagKind.SCOPE_CLOSE),
    ]


def test_unbalanced_tokens_are_rejected() -> None:
    with pytest.raises(ValueError, match="never closed"):
        training_inputs(tokens_of("<scope>", "a"))
    with pytest.raises(ValueError, match="not open"):
        training_inputs(tokens_of("a", "</async>"))


class LastWordPredictor:
    """Predicts the next token as the context's last word repeated: differs when contexts differ."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, contexts: Sequence[str]) -> list[str]:
        self.asked.extend(contexts)
        return [(c.split() or [""])[-1] for c in contexts]


def test_next_token_filter_asks_only_where_contexts_differ() -> None:
    seq = pieces("<scope>A<async> b</async> C</scope> D")
    predictor = LastWordPredictor()
    agreement = next_token_agreement(seq, predictor)
    # content tokens: A, b, C, D; only C sees a different prefix ("A" instead of "A b")
    assert agreement.tokens == 4
    assert sorted(predictor.asked) == ["A", "A b"]
    assert agreement.changed == 1 and agreement.changed_ratio == 0.25


def test_next_token_filter_with_an_agreeing_predictor_changes_nothing() -> None:
    seq = pieces("<scope>A<async> b</async> C</scope> D")
    agreement = next_token_agreement(seq, lambda contexts: ["x" for _ in contexts])
    assert agreement.changed == 0


def test_latency_filter_prefers_long_parallel_forks() -> None:
    model = LatencyModel(per_token_s=1.0, per_request_s=0.0, tag_tokens=1)
    long_forks = parse("<scope>a<async>" + " w" * 20 + "</async> b<async>" + " w" * 20 + "</async></scope>")
    sequential, pasta = predicted_latency(long_forks, model)
    assert sequential == 42.0
    # main: <scope> a <promise/> b <promise/> </scope> = 6; second fork starts at 5 and runs 20 + </async>
    assert pasta == 26.0
    assert is_faster(long_forks, model)
    short = parse("<scope>a b c d e f<async> w</async></scope>")
    assert not is_faster(short, model)


def test_list_markers_inside_code_blocks_are_not_items() -> None:
    assert annotate_lists("Code:\n```\n- a: b c\n- d: e f\n```\nAfter.") is None
    text = "Intro\n```\n- x: y\n```\n1. Real: one two\n2. Two: three four"
    assert annotate_lists(text) == (
        "Intro\n```\n- x: y\n```\n<scope>1. Real:<promise/><async> one two</async>\n2. Two:<promise/><async> three four</async></scope>"
    )
