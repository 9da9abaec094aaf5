"""Finders for items given in a machine form or as a set of targets.

Companion of :mod:`graphs.compiler.patterns` and :mod:`graphs.compiler.inline`:

- list literals: a Python or JSON list of strings after an introduction
  (``questions = ["...", "..."]``), one item per string;
- formats to fill: a JSON object, XML/HTML tags or empty ``Key:`` lines that an
  extraction request gives as its answer's shape: one item per field. The
  format is the shape of the answer, never an item itself;
- target sets: one text to be put into several languages or formats
  ("into French, German and Japanese", "to JSON, YAML and XML");
- fields named after a fronted source ("From the article below, I need the
  author, the date and the topic").

Pure functions of the text, built from the lexicon in :mod:`graphs.compiler.lang`.
"""

from __future__ import annotations

import ast
import json
import re

from graphs.compiler import lang
from graphs.compiler.inline import CODE_WORDS, EXTRACT_VERB, noun_phrases, sentence_around, split_list
from graphs.compiler.patterns import Found, clean_item, is_question

_MAX_ITEM = 600

# --- list literals -----------------------------------------------------------

_STRING = r"(?:\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*')"
_LITERAL = re.compile(
    r"(?P<assign>(?<![\w.])[A-Za-z_]\w{0,30}\s*(?::\s*[\w\[\], ]{1,30})?=\s*)?"
    r"\[\s*" + _STRING + r"(?:\s*,\s*" + _STRING + r")+\s*,?\s*\]"
)
_FENCE = re.compile(r"```[\w+-]*[ \t]*\n?(?P<body>.*?)```", re.DOTALL)
_LITERAL_CUE = re.compile(
    "|".join([lang.LIST_INTRO, lang.FOR_EACH, lang.QUESTION_WORDS,
              r"\b(?:answer|respond|reply|translate|rate|classify|summari[sz]e|explain|process|list|array|each|"
              r"every|all|items?|responde|contesta|traduce|réponds|répondez|traduis|beantworte|übersetze|"
              r"ответь|ответьте|переведи)\b|回答|翻译|翻譯|答えて|翻訳"]),
    re.IGNORECASE,
)


def _strings(literal: str) -> list[str] | None:
    """The strings of a list literal (JSON or Python syntax), or None when it is not a list of strings."""
    try:
        value = json.loads(literal)
    except json.JSONDecodeError:
        try:
            value = ast.literal_eval(literal)
        except (ValueError, SyntaxError):
            return None
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        return None
    return [clean_item(v) for v in value]


def _inside_fence(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The fence holding [start, end) when the fence holds nothing else; (-1, -1) when it holds code too."""
    for fence in _FENCE.finditer(text):
        if fence.start() <= start < fence.end():
            rest = text[fence.start("body"): start] + text[end: fence.end("body")]
            return (fence.start(), fence.end()) if not rest.strip() else (-1, -1)
    return None


def literal_lists(text: str) -> list[Found]:
    """'Answer these: ["What is X?", "Why Y?"]' or 'questions = [...]': one item per string of the list."""
    found = []
    for m in _LITERAL.finditer(text):
        items = _strings(text[m.end("assign") if m.group("assign") else m.start(): m.end()])
        fence = _inside_fence(text, m.start(), m.end())
        if not items or len(items) < 2 or fence == (-1, -1):
            continue
        if not all(re.search(r"[^\W\d_]", i) and len(i) <= _MAX_ITEM for i in items):
            continue
        start, end = fence or (m.start(), m.end())
        intro = text[max(0, start - 300): start].strip()
        if CODE_WORDS.search(intro[-160:]) and sum(is_question(i) for i in items) < len(items):
            continue  # data for a program to process, not subtasks
        if not (_LITERAL_CUE.search(intro[-200:]) or sum(is_question(i) for i in items) * 2 >= len(items)):
            continue
        found.append(Found("literal", start, end, tuple(items), strength=6, intro=intro[-200:]))
    return found


# --- formats to fill -------------------------------------------------------------

_FILL = re.compile(
    r"\b(?:fill(?:\s+in|\s+out)?|complete|populate|rellena|completa|llena|remplis|remplissez|complète|complétez|"
    r"fülle|ausfüllen|vervollständige|compila|preencha|заполни|заполните)\b|填写|填入|填充|記入|埋めて",
    re.IGNORECASE,
)
_EMPTY_VALUE = re.compile(r"^\s*(?:|_+|\.{2,}|…|\?+|-+|\[[^\]\n]{0,40}\]|<[^>\n]{0,40}>|\{[^}\n]{0,40}\}|"
                          r"\(?(?:string|text|value|number|date|str|int|\w+\s+here)\)?)\s*$", re.IGNORECASE)
_KEY_LINE = re.compile(r"^[ \t]*(?P<key>[^\W\d][\w\-/'()]{0,24}(?:[ ][\w\-/'()]{1,24}){0,3})[ \t]*[:：]"
                       r"(?P<value>[^\n]*)$", re.MULTILINE)  # a field name: at most four words
_TAG_LINE = re.compile(r"^[ \t]*<(?P<tag>[A-Za-z][\w-]{0,40})>[^<\n]{0,80}</(?P=tag)>[ \t]*$", re.MULTILINE)


def _json_objects(text: str) -> list[tuple[int, int, list[str]]]:
    """Top-level JSON objects in ``text`` with their keys, in order."""
    out, pos, decoder = [], 0, json.JSONDecoder()
    while (start := text.find("{", pos)) >= 0:
        try:
            value, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            pos = start + 1
            continue
        if isinstance(value, dict) and len(value) >= 2 and all(isinstance(k, str) and k.strip() for k in value):
            out.append((start, end, [clean_item(k) for k in value]))
        pos = end
    return out


def _tag_runs(text: str) -> list[tuple[int, int, list[str]]]:
    runs: list[list[re.Match[str]]] = []
    for m in _TAG_LINE.finditer(text):
        if runs and not text[runs[-1][-1].end(): m.start()].strip():
            runs[-1].append(m)
        else:
            runs.append([m])
    return [(r[0].start(), r[-1].end(), [m.group("tag") for m in r]) for r in runs if len(r) >= 2]


def _empty_key_runs(text: str) -> list[tuple[int, int, list[str]]]:
    runs: list[list[re.Match[str]]] = []
    for m in _KEY_LINE.finditer(text):
        if not _EMPTY_VALUE.match(m.group("value")):
            continue
        if runs and not text[runs[-1][-1].end(): m.start()].strip():
            runs[-1].append(m)
        else:
            runs.append([m])
    return [(r[0].start(), r[-1].end(), [clean_item(m.group("key")) for m in r]) for r in runs if len(r) >= 2]


def format_fields(text: str) -> list[Found]:
    """An extraction whose answer shape is given: '{"vendor": "", "date": ""}', '<name></name>', 'Name:' lines."""
    found = []
    for start, end, keys in [*_json_objects(text), *_tag_runs(text), *_empty_key_runs(text)]:
        outside = text[:start] + " " + text[end:]
        if not (EXTRACT_VERB.search(outside) or _FILL.search(outside)) or len(set(keys)) < len(keys):
            continue
        if CODE_WORDS.search(sentence_around(text, start)):
            continue
        intro = text[max(0, start - 200): start].strip()
        found.append(Found("format-fields", start, end, tuple(keys), strength=5, intro=intro))
    return found


# --- target sets ---------------------------------------------------------------------

# Word edges for alphabetic scripts only: a Chinese target follows its verb with no space ("翻译成英语").
_LATIN_EDGE_BEFORE = r"(?<![A-Za-zÀ-ÿĀ-žА-яЁё-])"
_LATIN_EDGE_AFTER = r"(?![A-Za-zÀ-ÿĀ-žА-яЁё-])"
_TARGET = r"(?:" + lang.LANGUAGE_NAMES + "|" + lang.FORMAT_NAMES + r")"
# Words a target may carry inside the list: "al inglés, al francés", "en anglais", "ins Englische", "на немецкий".
_TARGET_LEAD = r"(?:(?:into|in|to|as|al|a|en|el|ins|in\s+das|auf|nach|на|in\s+lingua|para\s+o|para\s+el|para)\s+)?" \
               r"(?:(?:the|the\s+language|la|le|l'|das|die|den|il|lo|o|a)\s+)?"
_JOIN = r"(?:\s*[,;、，]\s*(?:(?:and|or|y|e|et|ou|und|oder|o|и|или)\s+)?|\s*,?\s+(?:and|or|y|e|et|ou|und|oder|o|и|или)\s+" \
        r"|\s*(?:和|及|与|與|以及|或|と|や)\s*)"
_TARGET_LIST = re.compile(
    _LATIN_EDGE_BEFORE + _TARGET_LEAD + r"(?P<first>" + _TARGET + r")" + _LATIN_EDGE_AFTER +
    r"(?P<rest>(?:" + _JOIN + _TARGET_LEAD + _TARGET + _LATIN_EDGE_AFTER + r")+)",
    re.IGNORECASE,
)
_INTO = re.compile(r"(?:\b(?:into|in|to|as|al|a|en|vers|ins|auf|nach|на|para)\s+(?:the\s+|la\s+|le\s+|l'|das\s+|"
                   r"die\s+|den\s+|il\s+|lo\s+|o\s+)?|成|为|為|到)\s*$", re.IGNORECASE)
_CONVERT = re.compile(r"(?<![\w-])(?:" + lang.CONVERT_VERBS + r")(?![\w-])|" + lang.CONVERT_VERBS, re.IGNORECASE)


def target_sets(text: str) -> list[Found]:
    """'Translate X into French, German and Japanese' / 'convert this to JSON, YAML and XML': one item per target."""
    found = []
    for m in _TARGET_LIST.finditer(text):
        line_start = text.rfind("\n", 0, m.start()) + 1
        sentence = text[max(line_start, m.start() - 200): m.end()]
        head = text[max(0, m.start() - 40): m.start("first")]
        cjk_tail = re.match(r"\s*(?:に|へ)", text[m.end(): m.end() + 3])
        if not _CONVERT.search(sentence) or not (_INTO.search(head) or cjk_tail):
            continue
        targets = re.findall(_LATIN_EDGE_BEFORE + _TARGET + _LATIN_EDGE_AFTER, text[m.start("first"): m.end()],
                             re.IGNORECASE)
        items = [clean_item(t) for t in targets]
        if len(items) >= 2 and len({i.casefold() for i in items}) == len(items):
            found.append(Found("targets", m.start("first"), m.end(), tuple(items), strength=6, intro=sentence))
    return found


# --- fields after a fronted source ---------------------------------------------------

_FRONTED = {
    "en": (r"(?:from|in|using)\s+(?:the|this|these|that|those|each|my|your)", r"(?:please\s+)?(?:(?:i|we)\s+(?:need|want|"
           r"would\s+like|'d\s+like)|give\s+me|tell\s+me|list|extract|identify|find|get|pull\s+out|provide)",
           r"\s*,?\s+and\s+", r"^(?:the|all|its|his|her|their)\s+"),
    "es": (r"(?:del|de\s+(?:la|el|este|esta)|en\s+(?:el|la|este|esta))", r"(?:por\s+favor,?\s+)?(?:extrae|identifica|"
           r"dame|dime|necesito|quiero|enumera|indica)", r"\s*,?\s+[ye]\s+", r"^(?:el|la|los|las|su|sus)\s+"),
    "fr": (r"(?:du|de\s+(?:la|ce|cette)|dans\s+(?:le|la|ce|cette))", r"(?:extrais|extrayez|donne-moi|donnez-moi|"
           r"identifie|identifiez|indique|indiquez|j'ai\s+besoin\s+d[eu]|je\s+veux)", r"\s*,?\s+et\s+",
           r"^(?:le|la|les|l'|son|sa|ses)\s*"),
    "de": (r"(?:aus|in)\s+(?:dem|der|diesem|dieser)", r"(?:extrahiere|nenne|gib\s+mir|brauche\s+ich|ich\s+brauche|"
           r"bestimme|finde)", r"\s*,?\s+und\s+", r"^(?:den|die|das|dem|der|seine\w*|ihre\w*)\s+"),
}
_FRONTED_PATTERNS = {
    code: re.compile(r"(?:^|(?<=[.!?\n]))[ \t]*" + source + r"\s+(?:[\w'-]+\s+){0,3}?[\w'-]+\s*,?\s+" + verb
                     + r"\s+(?P<list>[^\n]{3,400}?)(?=[.?!:](?:\s|$)|\n|$)", re.IGNORECASE)
    for code, (source, verb, _conj, _det) in _FRONTED.items()
}


def fronted_fields(text: str) -> list[Found]:
    """'From the article below, I need the author, the date and the topic': the fields after a fronted source."""
    found = []
    for code, pattern in _FRONTED_PATTERNS.items():
        conj, det = _FRONTED[code][2], _FRONTED[code][3]
        for m in pattern.finditer(text):
            body = m.group("list").strip()
            items = [re.sub(det, "", i, flags=re.IGNORECASE) for i in split_list(body, conj)]
            if noun_phrases(items, body):
                found.append(Found("fronted-fields", m.start("list"), m.end("list"), tuple(items), strength=5,
                                   intro=text[m.start(): m.start("list")].strip()))
    return found
