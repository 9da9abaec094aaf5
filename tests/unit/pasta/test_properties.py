"""Property tests: the parser raises only its own typed error, and valid texts round-trip."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from graphs.pasta import PastaSyntaxError, parse, remove_pasta, render, strip_tags, sync_prefix
from graphs.pasta.stream import EventKind, TagScanner
from graphs.pasta.training import pieces, training_inputs

FRAGMENTS = [
    "<scope>", "</scope>", "<async>", "</async>", "<promise/>", "<sync/>", "<promise />",
    '<promise topic="t" tokens="3"/>', '<promise tokens="x"/>', "<promise>", "<scope/>", "</sync>",
    '<async topic="a">', "<scope", "<", ">", "/", "=", '"', "a", " ", "\n", "text", "<b>", "</",
]

noisy_text = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=5)), max_size=30).map("".join)


@settings(max_examples=400, deadline=None)
@given(noisy_text)
def test_parser_raises_nothing_but_its_own_error(text: str) -> None:
    try:
        document = parse(text)
    except PastaSyntaxError as error:
        assert error.line >= 1 and error.column >= 1 and 0 <= error.offset <= len(text)
        return
    assert remove_pasta(render(document)) == remove_pasta(document)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_unicode_raises_nothing_but_its_own_error(text: str) -> None:
    try:
        parse(text)
    except PastaSyntaxError:
        pass


words = st.text(alphabet="abc \n", min_size=1, max_size=6)


@st.composite
def scopes(draw: st.DrawFn, depth: int = 0) -> str:
    """A valid scope: text, forks (inline or with promises), maybe nested scopes."""
    parts = ["<scope>", draw(words)]
    opener = draw(st.sampled_from(["<async>", "<promise/><async>"]))  # one style per scope
    for _ in range(draw(st.integers(1, 3))):
        body = draw(words)
        if depth < 2 and draw(st.booleans()):
            body += draw(scopes(depth + 1))
        parts += [opener, body, "</async>", draw(words)]
    if depth < 2 and draw(st.booleans()):
        parts.append(draw(scopes(depth + 1)))
    parts.append("</scope>")
    return "".join(parts)


valid_text = st.lists(st.one_of(words, scopes()), min_size=1, max_size=4).map("".join)


@settings(max_examples=200, deadline=None)
@given(valid_text)
def test_valid_text_round_trips_through_the_canonical_form(text: str) -> None:
    document = parse(text)
    canonical = render(document)
    assert render(parse(canonical)) == canonical
    assert remove_pasta(canonical) == remove_pasta(text) == strip_tags(canonical)
    assert sync_prefix(text, len(text)) == remove_pasta(text)


@settings(max_examples=200, deadline=None)
@given(valid_text)
def test_sync_prefixes_only_look_back_and_position_ids_count_them(text: str) -> None:
    seq = pieces(text)
    inputs = training_inputs(seq)
    for i, prefix in enumerate(inputs.sync_prefix):
        assert all(j < i for j in prefix)
        assert inputs.position_ids[i] == len(prefix) == sum(inputs.attention[i]) - 1
        assert inputs.attention[i][i]


@settings(max_examples=200, deadline=None)
@given(noisy_text, st.lists(st.integers(1, 7), min_size=1, max_size=40))
def test_scanner_emits_exactly_what_it_was_fed(text: str, cuts: list[int]) -> None:
    scanner, events, pos = TagScanner(), [], 0
    for size in cuts * (len(text) // max(1, sum(cuts)) + 1):
        if pos >= len(text):
            break
        events += scanner.feed(text[pos : pos + size])
        pos += size
    events += scanner.feed(text[pos:]) + scanner.flush()
    assert "".join(event.text for event in events) == text
    whole = TagScanner().feed(text)
    assert [e.text for e in events if e.kind is not EventKind.TEXT] == [e.text for e in whole if e.kind is not EventKind.TEXT]
