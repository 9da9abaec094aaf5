"""Does a prompt ask for an answer that is a list? (``auto`` weighs lists mode only for such prompts.)

Role: lists mode (:mod:`orchestrator.pasta_lists`) pays only when the answer
is a list whose items it can fork. :func:`list_items` reads the prompt's
request and says how many items the answer is expected to have: the number
the prompt states ("Give three tips", "Name 4 rivers", "List five ways"),
else :data:`DEFAULT_ITEMS` for a request of several things without a number
("What are some ...", "What are the main differences ...", "What steps ...",
"a list of ...", "steps to ..."); None when the answer is not a list.

Policy: precise before broad. A request of one thing ("What is the best
way", "Give me one tip", "Name the largest planet"), a piece of prose or code
to write ("Write an essay about the causes of ...", "Implement a function"),
an answer bound to one sentence or paragraph, and a question without a
plural noun of enumerable things are not lists. English only; other
languages are None. Pure: a function of the text.
"""

from __future__ import annotations

import re

from graphs.compiler.lang import NUMBER_WORDS, parse_number

DEFAULT_ITEMS = 5
"""Items expected when the prompt asks for several things without saying how many."""
MAX_ITEMS = 50  # "100 names" is a column of words, not a list of elaborated items

_NOUNS = (
    r"tips|ways|steps|reasons|ideas|examples|benefits|advantages|disadvantages|drawbacks|factors|strategies|"
    r"methods|techniques|approaches|challenges|differences|similarities|features|characteristics|causes|effects|"
    r"consequences|implications|signs|symptoms|mistakes|habits|things|points|options|alternatives|suggestions|"
    r"recommendations|practices|principles|rules|skills|tools|resources|uses|applications|facts|types|kinds|"
    r"elements|components|stages|phases|exercises|activities|arguments|risks|problems|solutions|lessons|goals|"
    r"criteria|considerations|clues|qualities|traits|advancements|innovations|trends|questions|books|movies|"
    r"places|destinations|foods|countries|cities|hobbies|strengths|weaknesses|opportunities|threats|measures|"
    r"actions|changes|improvements|tricks|hacks|secrets|myths|misconceptions|issues|concerns|impacts|roles|"
    r"functions|areas|aspects|keys|ingredients|items|names"
)
_ENGLISH_NUMBERS = "|".join(sorted((w for w in NUMBER_WORDS if w.isascii() and w.isalpha() or " " in w),
                                   key=len, reverse=True))
_NUM = rf"(?P<num>\d{{1,3}}|{_ENGLISH_NUMBERS})"
_GAP = r"(?:[\w'-]+\s+){0,3}?"  # a few adjectives: "three short", "the most effective"
_ASK = (r"give|list|name|provide|suggest|share|offer|recommend|tell|outline|identify|mention|enumerate|state|"
        r"generate|brainstorm|come\s+up\s+with|write(?:\s+down)?|what\s+are|which\s+are|what\s+would\s+be|"
        r"i\s+need|i\s+want|looking\s+for")

_COUNTED = tuple(re.compile(pattern, re.IGNORECASE) for pattern in (
    rf"\b(?:{_ASK})\s+(?:(?:me|us)\s+)?(?:the\s+)?(?:top\s+)?{_NUM}\s+{_GAP}(?:{_NOUNS})\b",
    rf"\b(?:list|name|enumerate)\s+(?:(?:me|us)\s+)?(?:the\s+)?(?:top\s+)?{_NUM}\s+{_GAP}[a-z]{{3,}}s\b",
    rf"\btop\s+{_NUM}\s+{_GAP}[a-z]{{3,}}s\b",
    rf"\ba\s+list\s+of\s+{_NUM}\b",
))
_SEVERAL = r"some|several|a\s+few|any|a\s+couple\s+of|multiple|various|a\s+number\s+of|a\s+list\s+of|the"
_UNCOUNTED = re.compile(
    rf"\b(?:what|which)\s+(?:are|were|would\s+be)\s+(?:some\s+(?:of\s+)?)?(?:the\s+)?{_GAP}(?:{_NOUNS})\b"
    rf"|\b(?:what|which)\s+(?:[\w'-]+\s+){{0,2}}?(?:{_NOUNS})\s+(?:should|would|could|can|do|does|did|are|will|"
    rf"might|must|have|has|to|for|of|in|that)\b"
    rf"|\b(?:{_ASK})\s+(?:(?:me|us)\s+)?(?:{_SEVERAL})\s+{_GAP}(?:{_NOUNS})\b"
    rf"|^\W*(?:please\s+)?(?:list|enumerate)\b"
    rf"|\b(?:make|create|give|provide|write)\s+(?:me\s+)?a\s+list\s+of\b"
    rf"|\b(?:some|several|a\s+few|any|a\s+couple\s+of)\s+(?:[\w'-]+\s+){{0,2}}?(?:{_NOUNS})\s+(?:for|on|to|about)\b"
    rf"|\b(?:the\s+)?steps\s+(?:to|for|involved|needed|required|in)\b|\bstep[- ]by[- ]step\s+(?:guide|instructions|plan)\b"
    rf"|\bpros\s+and\s+cons\b",
    re.IGNORECASE | re.MULTILINE,
)
_PROSE = re.compile(
    r"\b(?:write|compose|draft|create|craft|pen|prepare|structure)\s+(?:me\s+)?(?:a|an|one|the|my)\s+(?:[\w'-]+\s+){0,4}?"
    r"(?:essay|story|poem|letter|e-?mail|speech|article|blog\s+post|post|paragraph|script|review|song|haiku|sonnet|"
    r"dialogue|monologue|soliloquy|narrative|report|summary|announcement|limerick|proposal|description|tweet|"
    r"introduction|biography|eulogy|toast)\b"
    r"|\bin\s+(?:one|a\s+single|a|one\s+short|a\s+short)\s+(?:sentence|paragraph|word|line)\b|\bone[- ]word\b"
    r"|\bin\s+(?:prose|paragraph\s+form)\b|\bwithout\s+(?:using\s+)?(?:a\s+)?(?:lists?|bullet)|\bno\s+(?:lists?|bullets?)\b",
    re.IGNORECASE,
)
_CODE = re.compile(
    r"```|\b(?:write|implement|develop|create|code)\s+(?:me\s+)?(?:a|an|the)\s+(?:[\w+#-]+\s+){0,4}?"
    r"(?:program|function|script|class|method|algorithm|query|regex|regular\s+expression|api|app)\b",
    re.IGNORECASE,
)


def list_items(prompt: str, *, default: int = DEFAULT_ITEMS) -> int | None:
    """Items the answer to ``prompt`` is expected to list (the stated number, else ``default``); None: no list."""
    if _PROSE.search(prompt) or _CODE.search(prompt):
        return None
    counted = [m for pattern in _COUNTED for m in pattern.finditer(prompt)]
    if counted:
        count = parse_number(min(counted, key=lambda m: m.start()).group("num"))
        return count if count is not None and 2 <= count <= MAX_ITEMS else None
    return default if _UNCOUNTED.search(prompt) else None
