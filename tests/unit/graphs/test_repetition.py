"""Loop detection on hand-written texts: loops found with their period, ordinary text and lists left alone."""

from __future__ import annotations

from graphs.repetition import LoopGuard, loop_period

SENTENCE = "The cat sat on the mat and looked at the door. "


def test_a_sentence_written_over_and_over_is_a_loop_with_its_length_as_period():
    assert loop_period("Here is my answer. " + SENTENCE * 6) == len(SENTENCE)


def test_three_repeats_of_a_short_unit_are_not_enough_below_the_minimum_span():
    assert loop_period("x" * 10 + "abcdefghij" * 3) is None
    assert loop_period("abcdefghij" * 30) == 10


def test_a_numbered_list_whose_items_differ_only_in_their_numbers_is_not_a_loop():
    items = "".join(f"{i}. Write one short idea about saving energy at home.\n" for i in range(1, 12))
    assert loop_period(items) is None


def test_ordinary_prose_and_whitespace_runs_are_not_loops():
    prose = ("Rayleigh scattering makes short wavelengths scatter more strongly, so the sky looks blue "
             "in daylight; at sunset the light crosses more air and the reds remain. ") * 1
    assert loop_period(prose) is None
    assert loop_period("end" + " " * 400) is None


def test_the_guard_finds_a_loop_arriving_in_pieces_and_not_before():
    guard = LoopGuard()
    assert not guard.feed("Intro text that is not repeated at all. ")
    fed = [guard.feed(SENTENCE) for _ in range(8)]
    assert fed.index(True) == fed.count(False)
    assert fed[-1] is True
