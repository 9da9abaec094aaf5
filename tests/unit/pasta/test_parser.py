"""The parser: valid texts in both dialects, nesting, and every malformed form with its position."""

from __future__ import annotations

import pytest

from graphs.errors import GraphError
from graphs.pasta import (
    Dialect,
    Fork,
    PastaSyntaxError,
    Rule,
    Scope,
    Text,
    dump,
    main_stream,
    parse,
    remove_pasta,
    render,
    strip_tags,
)

FIGURE_1 = """<scope>
Coal and wood are <async> flammable materials.</async>
Newspaper is <async> flammable.</async>
</scope>
So two are flammable."""

FULL_FORM = "<scope>Radcliffe gained<promise/><async> a fortune.</async> Contrary to expectations,<promise/><async> he spends modestly.</async></scope>"


def test_figure_1_parses_to_one_scope_with_two_forks() -> None:
    document = parse(FIGURE_1)
    assert document.dialect is Dialect.ORIGINAL
    scope = document.children[0]
    assert isinstance(scope, Scope) and not scope.implicit
    forks = [child for child in scope.children if isinstance(child, Fork)]
    assert [f.has_promise for f in forks] == [False, False]
    assert remove_pasta(document) == (
        "\nCoal and wood are  flammable materials.\nNewspaper is  flammable.\n\nSo two are flammable."
    )


def test_promise_form_pairs_promises_with_asyncs_in_order() -> None:
    document = parse(FULL_FORM)
    forks = [c for c in document.children[0].children if isinstance(c, Fork)]
    assert [remove_pasta(render(document))] == [remove_pasta(document)]
    assert [f.body[0].text for f in forks] == [" a fortune.", " he spends modestly."]
    assert remove_pasta(document) == "Radcliffe gained a fortune. Contrary to expectations, he spends modestly."


def test_stream_form_has_pending_forks() -> None:
    document = parse("<scope>1. Eyes:<promise/>\n2. Posture:<promise/>\n</scope>Done.")
    forks = [c for c in document.children[0].children if isinstance(c, Fork)]
    assert [f.body for f in forks] == [None, None]
    assert remove_pasta(document) == "1. Eyes:\n2. Posture:\nDone."


def test_nested_scopes_inside_scopes_and_asyncs() -> None:
    text = "<scope>A<promise/><async>x<scope>y<promise/><async>z</async></scope></async>B<scope>C<promise/><async>w</async></scope></scope>"
    document = parse(text)
    outer = document.children[0]
    assert isinstance(outer, Scope)
    fork = outer.children[1]
    assert isinstance(fork, Fork) and isinstance(fork.body[1], Scope)
    assert isinstance(outer.children[3], Scope)
    assert remove_pasta(text) == "AxyzBCw"
    assert render(parse(render(document))) == render(document)


def test_render_is_canonical_and_main_stream_drops_bodies() -> None:
    document = parse(FIGURE_1)
    assert render(document).count("<promise/><async>") == 2
    assert main_stream(document) == (
        "<scope>\nCoal and wood are <promise/>\nNewspaper is <promise/>\n</scope>\nSo two are flammable."
    )


def test_text_without_tags_is_one_text_node() -> None:
    document = parse("no tags < here > at all <b>bold</b> <scoped> <SCOPE>")
    assert document.children == (Text("no tags < here > at all <b>bold</b> <scoped> <SCOPE>", document.children[0].start),)


def test_later_dialect_promises_first_then_asyncs_then_sync() -> None:
    text = 'Tips:\n<promise topic="sleep" tokens="40"/>\n<promise topic="food" tokens="30"/>\n<async>Sleep more.</async>\n<async>Eat well.</async>\n<sync/>\nDone.'
    document = parse(text)
    assert document.dialect is Dialect.LATER
    scope = document.children[1]
    assert isinstance(scope, Scope) and scope.implicit
    forks = [c for c in scope.children if isinstance(c, Fork)]
    assert [(f.topic, f.tokens) for f in forks] == [("sleep", 40), ("food", 30)]
    assert remove_pasta(document) == "Tips:\nSleep more.\nEat well.\n\n\n\nDone."


def test_later_dialect_sync_closes_an_explicit_scope_and_normalizes() -> None:
    later = parse("<scope>A<promise/><async>x</async>B<promise/><async>y</async><sync/>C")
    original = parse("<scope>A<promise/><async>x</async>B<promise/><async>y</async></scope>C")
    assert render(later) == render(original)
    assert later.dialect is Dialect.LATER and original.dialect is Dialect.ORIGINAL


def test_later_dialect_implicit_scope_closes_at_end_of_text() -> None:
    document = parse('Intro <promise topic="a"/><async>x</async> more')
    assert isinstance(document.children[1], Scope)
    assert render(document) == 'Intro <scope><promise topic="a"/><async>x</async> more</scope>'


@pytest.mark.parametrize(
    ("text", "rule", "line", "column", "message"),
    [
        ("<scope>abc", Rule.UNCLOSED_TAG, 1, 1, r"<scope> is never closed"),
        ("<scope>a<async>b</scope>", Rule.MISMATCHED_CLOSE, 1, 17, r"closes a scope while <async> at line 1, column 9 is open"),
        ("<scope>a\n<async>b</async>\n</async></scope>", Rule.UNMATCHED_CLOSE, 3, 1, r"</async> closes no open <async>"),
        ("text</scope>", Rule.UNMATCHED_CLOSE, 1, 5, r"</scope> closes no open scope"),
        ("line one\n  <async>x</async>", Rule.ASYNC_OUTSIDE_SCOPE, 2, 3, r"<async> is not inside any <scope>"),
        ("a <promise/> b", Rule.PROMISE_OUTSIDE_SCOPE, 1, 3, r"<promise/> is not inside any <scope>"),
        ("<scope>a<promise/>b<async>x</async><async>y</async></scope>", Rule.UNPAIRED_ASYNC, 1, 36, r"has no <promise/> to pair with"),
        ("<scope>a<promise/>b<promise/><async>x</async></scope>", Rule.UNPAIRED_PROMISE, 1, 20, r"<promise/> has no <async> to pair with"),
        ("<scope><async>x</async>a<promise/><async>y</async></scope>", Rule.UNPAIRED_ASYNC, 1, 8, r"comes before its <promise/>"),
        ("<scope><promise></scope>", Rule.MALFORMED_TAG, 1, 8, r"must be written self-closing, as <promise/>"),
        ("<scope/>", Rule.MALFORMED_TAG, 1, 1, r"<scope> cannot be self-closing"),
        ("<scope></promise></scope>", Rule.MALFORMED_TAG, 1, 8, r"must be written self-closing"),
        ("<sync>", Rule.MALFORMED_TAG, 1, 1, r"must be written self-closing, as <sync/>"),
        ('<scope><promise color="red"/></scope>', Rule.MALFORMED_TAG, 1, 8, r"attribute 'color' is not allowed"),
        ('<scope><promise tokens="many"/></scope>', Rule.MALFORMED_TAG, 1, 8, r"tokens must be a non-negative integer"),
        ('<scope topic="x"></scope>', Rule.MALFORMED_TAG, 1, 1, r"attribute 'topic' is not allowed"),
        ("<scope><promise topic=x/></scope>", Rule.MALFORMED_TAG, 1, 8, r"cannot read the attributes"),
        ("x <sync/>", Rule.UNMATCHED_CLOSE, 1, 3, r"<sync/> closes no open scope"),
    ],
)
def test_each_malformed_form_names_rule_line_and_column(text: str, rule: Rule, line: int, column: int, message: str) -> None:
    with pytest.raises(PastaSyntaxError, match=message) as caught:
        parse(text)
    error = caught.value
    assert (error.rule, error.line, error.column) == (rule, line, column)
    assert str(error).startswith(f"line {line}, column {column}: ")
    assert isinstance(error, GraphError)


def test_dump_lists_scopes_forks_and_text_with_positions() -> None:
    assert dump(parse(FIGURE_1)) == "\n".join(
        [
            "document (original)",
            "  scope 1:1 forks=2",
            "    text 1:8 'Coal and wood are'",
            "    fork 2:19 'flammable materials.'",
            "    text 2:55 'Newspaper is'",
            "    fork 3:14 'flammable.'",
            "  text 4:9 'So two are flammable.'",
        ]
    )


def test_strip_tags_is_lenient() -> None:
    assert strip_tags("a</scope> b<promise>c<async>") == "a bc"
