"""Training records: token ids, attention to the synchronous prefix, position ids, loss mask and targets."""

from __future__ import annotations

from graphs.pasta.records import IGNORE, attention_matrix, build_record
from graphs.pasta.training import word_tokens

ANNOTATED = "Hi<scope> x<promise/><async> c</async> y</scope> z"


class Vocab:
    """A toy tokenizer: words with their leading space; a tag is two tokens ('<' and the rest)."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def encode(self, text: str) -> list[int]:
        parts = ["<", text[1:]] if text.startswith("<") else word_tokens(text)
        return [self.ids.setdefault(part, 10 + len(self.ids)) for part in parts]

    def words(self, ids) -> list[str]:
        names = {v: k for k, v in self.ids.items()} | {1: "P1", 2: "P2", 99: "EOS", IGNORE: None}
        return [names[i] for i in ids]


def record(annotated: str = ANNOTATED):
    vocab = Vocab()
    return vocab, build_record([1, 2], annotated, vocab.encode, end_ids=[99])


def test_tokens_are_the_prompt_then_the_canonical_response_with_multi_token_tags() -> None:
    vocab, r = record()
    assert vocab.words(r.input_ids) == [
        "P1", "P2", "Hi", "<", "scope>", " x", "<", "promise/>", "<", "async>", " c", "<", "/async>",
        " y", "<", "/scope>", " z", "EOS",
    ]
    assert r.prompt_tokens == 2


def test_each_token_attends_to_the_prompt_its_synchronous_prefix_and_itself() -> None:
    _, r = record()
    # The fork's text sees everything before it in the main view, tags included (as the interpreter sends it).
    assert r.attend[10] == ((0, 11),)
    # Main text after the promise does not see the fork: the prompt, Hi, <scope>, x, <promise/>, then itself.
    assert r.attend[13] == ((0, 8), (13, 14))
    assert r.attend[15] == ((0, 8), (13, 16))  # the second token of </scope> sees the first
    # After the scope the joined text is plain: the tags drop out, the fork's text is in.
    assert r.attend[16] == ((0, 3), (5, 6), (10, 11), (13, 14), (16, 17))
    assert r.attend[17] == ((0, 3), (5, 6), (10, 11), (13, 14), (16, 18))


def test_position_ids_are_the_length_of_what_a_token_attends_to() -> None:
    _, r = record()
    assert list(r.position_ids) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 8, 9, 10, 6, 7]
    assert all(r.position_ids[i] == sum(e - s for s, e in ranges) - 1 for i, ranges in enumerate(r.attend))


def test_no_loss_on_the_prompt_or_on_what_the_interpreter_inserts() -> None:
    vocab, r = record()
    unlearned = [word for word, learned in zip(vocab.words(r.input_ids), r.loss_mask) if not learned]
    assert unlearned == ["P1", "P2", "<", "async>"]
    assert r.loss_mask[6:8] == (True, True)  # <promise/> is the model's own


def test_each_token_is_predicted_from_the_last_token_of_its_own_view() -> None:
    vocab, r = record()
    assert vocab.words(r.targets) == [
        None, "Hi", "<", "scope>", " x", "<", "promise/>", " y",  # the promise predicts the main text after it
        None, " c",  # <async> is not learned; its last token predicts the fork's first
        "<", "/async>", None,  # the fork ends at </async>
        "<", "/scope>", " z",  # ' z' sees ' c' last, which predicts </async>: it is predicted at </scope>
        "EOS", None,
    ]
    assert r.dropped == 0
    learned = [token for token, flag in zip(r.input_ids, r.loss_mask) if flag]
    assert sorted(t for t in r.targets if t != IGNORE) == sorted(learned)


def test_attention_never_reaches_a_later_token() -> None:
    _, r = record("Tips:<scope>\n1. A:<promise/><async> one</async>\n2. B:<promise/><async> two</async></scope> End")
    matrix = attention_matrix(r)
    assert all(not matrix[i][j] for i in range(len(matrix)) for j in range(i + 1, len(matrix)))
    assert all(matrix[i][i] for i in range(len(matrix)))
    assert len(r.input_ids) == len(r.attend) == len(r.position_ids) == len(r.loss_mask) == len(r.targets)
