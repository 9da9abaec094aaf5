"""Branch budgets: how long one item of an answer is expected to be, in tokens.

The compiler sets each branch's ``max_tokens`` from this estimate (with a
margin) and records the estimate itself as the node's ``expected_tokens``;
the cost model (:mod:`graphs.cost`) reads the same figure, so the cap a
branch runs under and the latency predicted for it come from one place.

The estimate comes from the prompt, in this order: an explicit limit ("no
more than 20 words", "under 100 characters", "in two sentences"), then the
unit asked for ("one line", "a paragraph"), then what an item is (a name, a
question, a plan, code), then the category (a translation is about as long
as its source; a sentiment is a word). Pure functions of text.
"""

from __future__ import annotations

import math
import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from graphs.compiler.schema import Category, Schema


class ItemSize(StrEnum):
    """The unit one item of the answer is written in."""

    WORD = "word"
    TITLE = "title"
    LINE = "line"
    SENTENCE = "sentence"
    PARAGRAPH = "paragraph"
    CODE = "code"
    ANSWER = "answer"
    LIMIT = "limit"
    SOURCE = "source"


TOKENS = {ItemSize.WORD: 6, ItemSize.TITLE: 14, ItemSize.LINE: 28, ItemSize.SENTENCE: 36,
          ItemSize.PARAGRAPH: 150, ItemSize.CODE: 260, ItemSize.ANSWER: 110}
MARGIN = 2.5
MIN_CAP = 32
TOKENS_PER_WORD = 1.4
SERIAL_FRAMING = 8  # an introduction line in a serial answer
ITEM_FRAMING = 3  # a number and a line break per item
FINAL_EXTRA = 60  # what a final step adds to the items it rewrites


class Budget(BaseModel):
    """The expected length of one item and the token cap derived from it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    size: ItemSize = Field(description="The unit the estimate came from.")
    expected_tokens: int = Field(ge=1, description="Tokens one item is expected to take.")
    evidence: str = Field("", description="The words of the prompt the estimate rests on ('' for a default).")
    stated: bool = Field(False, description="The prompt itself states the length (a limit or a unit), so branches read it.")

    def cap(self, ceiling: int) -> int:
        """``max_tokens`` for a branch: the estimate times the margin, at least MIN_CAP, at most ``ceiling``."""
        return max(1, min(ceiling, max(MIN_CAP, math.ceil(self.expected_tokens * MARGIN))))


_NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "single": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_NUM = r"(\d+|a|an|one|single|two|three|four|five|six)"
_WORD_LIMIT = re.compile(
    r"(?:no\s+more\s+than|not\s+more\s+than|at\s+most|up\s+to|under|less\s+than|fewer\s+than|within|maximum(?:\s+of)?|"
    r"max\.?|not\s+exceed(?:ing)?|limit(?:ed)?\s+to|in|about|around|approximately)\s+(\d+)\s*(words?|characters?|chars?)\b"
    r"|\b(\d+)[- ](word|character)\b", re.IGNORECASE)
_UNIT = re.compile(
    rf"\b{_NUM}(?:\s*(?:-|to|or)\s*{_NUM})?\s+(?:[A-Za-z]+[- ])?"
    r"(sentences?|lines?|paragraphs?|words?)\b|\b(one-liners?|single[- ]line|one[- ]line)\b", re.IGNORECASE)
_ITEM_NOUNS = (
    (ItemSize.WORD, r"words?|keywords?|tags?|emojis?|numbers?|adjectives?|synonyms?"),
    (ItemSize.TITLE, r"names?|titles?|slogans?|taglines?|headlines?|domain\s+names?|usernames?|themes?|topics?|"
                     r"hashtags?|labels?|brand\s+names?|nicknames?"),
    (ItemSize.CODE, r"code|scripts?|functions?|programs?|quer(?:y|ies)\s+in\s+sql|sql\s+quer(?:y|ies)|classes"),
    (ItemSize.PARAGRAPH, r"paragraphs?|stor(?:y|ies)|essays?|descriptions?|narratives?|plans?|emails?|letters?|"
                         r"articles?|poems?|reviews?|scenes?|scenarios?|posts?|summar(?:y|ies)|explanations?|"
                         r"dialogues?|conversations?|data\s+points?|(?:multiple[- ]choice\s+)?questions?\s+with\s+answers?|"
                         r"multiple[- ]choice|pairs?"),
    (ItemSize.LINE, r"questions?|quotes?|tips?|ideas?|commands?|instructions?|quer(?:y|ies)|rewrites?|prompts?|"
                    r"jokes?|facts?|examples?|comments?|skills?|quiz(?:zes)?|reasons?|ways?|steps?|suggestions?"),
    (ItemSize.SENTENCE, r"sentences?|statements?|phrases?|captions?|messages?|tweets?"),
)
_ITEM = re.compile("|".join(f"(?P<{size.value}>\\b(?:{words})\\b)" for size, words in _ITEM_NOUNS), re.IGNORECASE)
_LONGER = re.compile(r"\b(?:detailed|long|in[- ]depth|explained|elaborate|comprehensive|thorough)\b", re.IGNORECASE)
_SHORTER = re.compile(r"\b(?:short|brief|concise|simple|quick|one[- ]word)\b", re.IGNORECASE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def estimate_tokens(text: str) -> int:
    """Rough token count of ``text``: one per CJK character, one per four other characters."""
    cjk = len(_CJK.findall(text))
    return max(1, cjk + math.ceil((len(text) - cjk) / 4)) if text else 0


def item_budget(schema: Schema, prompt: str = "") -> Budget:
    """The expected length of one item of ``schema`` (see the module doc for the order of the rules)."""
    instruction = _instruction(schema, prompt)
    items = schema.count or schema.stated_count or 0
    return (_explicit_limit(instruction, items) or _unit(instruction, items) or _by_category(schema)
            or _by_item_noun(schema.template) or Budget(size=ItemSize.ANSWER, expected_tokens=TOKENS[ItemSize.ANSWER]))


# How a short item reads in a list, told to a branch whose prompt does not say (it would otherwise write a
# paragraph where the serial answer writes a line): by unit, in the prompt's language.
_LENGTH_NOTES = {
    "en": ("(Answer in {unit}, as this entry would read in a list of answers.)",
           {ItemSize.WORD: "a word or a few words", ItemSize.TITLE: "a few words", ItemSize.LINE: "one line",
            ItemSize.SENTENCE: "one sentence"}),
    "es": ("(Responde en {unit}, como se leería esta entrada en una lista de respuestas.)",
           {ItemSize.WORD: "una o pocas palabras", ItemSize.TITLE: "pocas palabras", ItemSize.LINE: "una línea",
            ItemSize.SENTENCE: "una frase"}),
    "fr": ("(Réponds en {unit}, comme cette entrée se lirait dans une liste de réponses.)",
           {ItemSize.WORD: "un ou quelques mots", ItemSize.TITLE: "quelques mots", ItemSize.LINE: "une ligne",
            ItemSize.SENTENCE: "une phrase"}),
    "de": ("(Antworte in {unit}, so wie dieser Eintrag in einer Liste von Antworten stünde.)",
           {ItemSize.WORD: "einem oder wenigen Wörtern", ItemSize.TITLE: "wenigen Wörtern", ItemSize.LINE: "einer Zeile",
            ItemSize.SENTENCE: "einem Satz"}),
}


def length_note(budget: Budget, language: str) -> str:
    """A branch's reminder of its item's length when the item is short and the prompt does not say ('' else)."""
    template, units = _LENGTH_NOTES.get(language, _LENGTH_NOTES["en"])
    if budget.stated or budget.size not in units:
        return ""
    return template.format(unit=units[budget.size])


def serial_tokens(schema: Schema, budget: Budget, *, shared: bool = False, final: bool = False) -> int:
    """Tokens the serial answer is expected to write: every item, its framing, and the once-only parts."""
    once = (budget.expected_tokens if shared else 0) + (FINAL_EXTRA if final else 0)
    return SERIAL_FRAMING + schema.count * (budget.expected_tokens + ITEM_FRAMING) + once


def _instruction(schema: Schema, prompt: str) -> str:
    """The prompt's words without its items and passage, so an item's own words set no limit."""
    text = prompt or schema.template
    for item in (*(schema.data or ()), schema.context):
        if item:
            text = text.replace(item, " ")
    return text


def _matches(pattern: re.Pattern[str], text: str, items: int, number: int) -> re.Match[str] | None:
    """The first match whose number is not the count of items ('5 sentences' asks for five items)."""
    for match in pattern.finditer(text):
        word = match.group(number)
        if word is None or items <= 1 or _count(word) != items:
            return match
    return None


def _explicit_limit(text: str, items: int) -> Budget | None:
    match = _matches(_WORD_LIMIT, text, items, 1)
    if match is None:
        return None
    count = int(match.group(1) or match.group(3))
    unit = (match.group(2) or match.group(4)).lower()
    tokens = count * TOKENS_PER_WORD if unit.startswith("word") else count / 4
    return Budget(size=ItemSize.LIMIT, expected_tokens=max(1, math.ceil(tokens)), evidence=match.group(0), stated=True)


def _unit(text: str, items: int) -> Budget | None:
    match = _matches(_UNIT, text, items, 1)
    if match is None:
        return None
    if match.group(4):
        return Budget(size=ItemSize.LINE, expected_tokens=TOKENS[ItemSize.LINE], evidence=match.group(0), stated=True)
    count = _count(match.group(2) or match.group(1))
    unit = match.group(3).lower().rstrip("s")
    size = {"sentence": ItemSize.SENTENCE, "line": ItemSize.LINE, "paragraph": ItemSize.PARAGRAPH}.get(unit, ItemSize.WORD)
    per = TOKENS[size] if size is not ItemSize.WORD else TOKENS_PER_WORD
    return Budget(size=size, expected_tokens=max(1, math.ceil(count * per)), evidence=match.group(0), stated=True)


def _count(word: str) -> int:
    return int(word) if word.isdigit() else _NUMBER_WORDS[word.lower()]


def _by_category(schema: Schema) -> Budget | None:
    match schema.category:
        case Category.TRANSLATION | Category.LANGUAGE_CORRECTION if schema.data:
            longest = max(estimate_tokens(item) for item in schema.data)
            return Budget(size=ItemSize.SOURCE, expected_tokens=math.ceil(longest * 1.5) + 4)
        case Category.READING_COMPREHENSION:
            return Budget(size=ItemSize.ANSWER, expected_tokens=60)
        case Category.SENTIMENT_ANALYSIS:
            return Budget(size=ItemSize.WORD, expected_tokens=12)
        case Category.KEYWORD_EXTRACTION | Category.NAMED_ENTITY_RECOGNITION:
            return Budget(size=ItemSize.LINE, expected_tokens=TOKENS[ItemSize.LINE])
    return None


def _by_item_noun(template: str) -> Budget | None:
    """What one item is: the first item noun after the count (or anywhere), adjusted by 'short' / 'detailed'."""
    after = template[template.find("{n}"):] if "{n}" in template else template
    match = _ITEM.search(after[:120]) or _ITEM.search(template)
    if match is None:
        return None
    size = ItemSize(match.lastgroup)
    tokens = TOKENS[size]
    near = after[:120]
    if _LONGER.search(near):
        tokens *= 2
    elif _SHORTER.search(near) and size is not ItemSize.WORD:
        tokens = math.ceil(tokens * 0.6)
    return Budget(size=size, expected_tokens=tokens, evidence=match.group(0))
