"""The rule-based extractor: find the parallel structure of a prompt and state it as a schema.

Every finder proposes candidates; one is chosen by strength (explicit lists
and counts beat loose hints, a list introduced as rules or examples loses to
anything else), then the prompt is cut into ``template`` / ``context`` /
``data`` or ``n``. The template is the prompt itself with the items replaced
by ``{data}`` (or the count by ``{n}``) and the shared passage by
``{context}``, so rendering it back for every item loses nothing the serial
prompt said. Validation (tiers, reasons) is :mod:`graphs.compiler.validate`.
"""

from __future__ import annotations

import re

from graphs.compiler import forms, inline, lang, patterns
from graphs.compiler.patterns import Found
from graphs.compiler.schema import Category, Extraction, Schema

_MIN_CONTEXT = 200
_MIN_STRENGTH = 3
_CONTEXTUAL_INTRO = re.compile(
    r"\b(?:rules?|requirements?|instructions?|constraints?|guidelines?|examples?|format|notes?|criteria|steps?|"
    r"tips|options|labels|reglas?|requisitos?|ejemplos?|règles?|exigences?|exemples?|consignes?|regeln?|"
    r"anforderungen|beispiele?|правил\w*|требовани\w*|пример\w*)\b|规则|要求|例子|示例|样例|ルール|条件|例:|例：",
    re.IGNORECASE,
)
_PROCESS = re.compile(
    r"\b(?:answer|respond|reply|rate|score|grade|rank|classify|categori[sz]e|label|tag|translate|correct|fix|"
    r"proofread|rewrite|paraphrase|summari[sz]e|explain|define|describe|analy[sz]e|evaluate|assess|review|check|"
    r"convert|extract|identify|find|determine|judge|decide|solve|calculate|compute|write|give|provide|tell|count|"
    r"responde|contesta|traduce|corrige|clasifica|resume|explica|evalúa|réponds|répondez|traduis|traduisez|"
    r"corrige|classe|résume|explique|évalue|beantworte|übersetze|korrigiere|klassifiziere|erkläre|bewerte|"
    r"ответь|ответьте|переведи|переведите|исправь|исправьте|оцени|классифицируй|объясни)\b|"
    r"回答|翻译|翻譯|纠正|改正|分类|分類|评价|評価|解释|解釋|判断|答えて|翻訳|訂正|説明|添削",
    re.IGNORECASE,
)
_QUESTION_WORDS = re.compile(lang.QUESTION_WORDS, re.IGNORECASE)


_FENCE = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)


def candidates(prompt: str, language: str) -> list[Found]:
    """Every structure any finder sees outside code blocks, scored."""
    lines = patterns.split_lines(prompt)
    found = [
        *patterns.numbered_lists(prompt, lines),
        *patterns.inline_numbered(prompt, lines),
        *patterns.bulleted_lists(prompt, lines),
        *patterns.line_lists(prompt, lines),
        *patterns.paragraph_lists(prompt, lines),
        *inline.counts(prompt),
        *inline.inline_lists(prompt),
        *inline.cjk_lists(prompt, language),
        *inline.colon_lists(prompt, language),
        *inline.quoted_lists(prompt),
        *inline.example_lists(prompt),
        *inline.record_keys(prompt, lines),
        *inline.several_questions(prompt, lines, language),
        *forms.literal_lists(prompt),
        *forms.format_fields(prompt),
        *forms.target_sets(prompt),
        *forms.fronted_fields(prompt),
    ]
    fences = [m.span() for m in _FENCE.finditer(prompt)]
    return [_score(prompt, f) for f in found
            if f.pattern == "literal" or not any(a <= f.start < b for a, b in fences)]


# Finders whose own checks already tie the structure to the request (a count, a list literal, a format
# to fill, a set of targets): the hints below are for lists found in running text.
_SELF_EVIDENT = frozenset({"literal", "format-fields", "targets", "fronted-fields"})
_FIELD_INTRO = re.compile(r"(?:" + lang.FIELD_WORDS + r")\W{0,3}$", re.IGNORECASE)


def _score(prompt: str, found: Found) -> Found:
    if found.n is not None or found.pattern in _SELF_EVIDENT:
        return found
    strength = found.strength
    questions = sum(patterns.is_question(i) for i in found.items)
    intro = _last_sentence(found.intro)
    if found.pattern == "quoted" and _FIELD_INTRO.search(intro):
        return Found(found.pattern, found.start, found.end, found.items, None, 5, found.intro)  # 'the keys "a", "b"'
    if re.search(lang.FOR_EACH, intro, re.IGNORECASE):
        strength += 3
    if _CONTEXTUAL_INTRO.search(intro) and not _QUESTION_WORDS.search(intro):
        strength -= 4
    if intro.rstrip().endswith(tuple(lang.QUESTION_MARKS)) and questions == 0 and _OPTIONS.search(intro):
        strength -= 4  # options of one multiple-choice question, not separate tasks
    if _SUPERLATIVE.search(intro):
        strength -= 4  # "identify the company with the highest profit": one comparison over all items
    after = prompt[found.end: found.end + 300]
    if questions == 0 and len(re.findall(r"[?？]", after)) == 1 and not _PROCESS.search(found.intro[-100:]):
        strength -= 3  # premises for the one question that follows them
    if found.pattern == "quoted" and not _PROCESS.search(intro) and \
            not re.search(r"\b(?:following|below|listed)\b|以下|下列|次の|следующ", intro, re.IGNORECASE):
        strength -= 2  # quotations inside a passage, not a list the request hands over
    if questions == 0 and found.start >= 300 and not _PROCESS.search(intro) and found.n is None:
        strength -= 2  # a list deep inside a passage, introduced by the passage itself
    if questions >= max(2, len(found.items) // 2):
        strength += 1
    elif found.pattern in ("numbered", "bulleted") and not _introduces_list(found.intro):
        strength -= 2
    elif not _PROCESS.search(prompt[: found.start] + prompt[found.end:]) and found.pattern != "inline-list" \
            and not re.search(lang.LIST_INTRO, prompt[max(0, found.start - 200): found.start], re.IGNORECASE):
        strength -= 2
    return Found(found.pattern, found.start, found.end, found.items, found.n, strength, found.intro, found.numbered)


_SUPERLATIVE = re.compile(
    r"\b(?:the\s+(?:highest|lowest|largest|smallest|best|worst|most|least|biggest|cheapest|oldest|youngest)|"
    r"which\s+(?:one|of\s+(?:them|these|the)))\b|\bodd\s+one\s+out\b|\bdoes\s+not\s+belong\b|"
    r"\b(?:arrange|sort|order|rank|rearrange|ordena|ordenar|classe[rz]?|trie[rz]?|sortiere|ordne|упорядочи|"
    r"отсортируй)\b[^.?!\n]{0,40}\b(?:from|by|in|de|par|nach|по)\b|排序|並べ替え",
    re.IGNORECASE,
)


_OPTIONS = re.compile(r"\b(?:which|choose|select|pick|correct\s+(?:answer|option))\b|\bcuál\b|\bquel(?:le)?\b|"
                      r"\bwelche[rs]?\b|\bкакой\b|\bкакая\b|哪|どれ", re.IGNORECASE)


def _introduces_list(intro: str) -> bool:
    text = intro.rstrip()
    tail = text[-100:]
    return text.endswith((":", "：")) or bool(re.search(lang.LIST_INTRO + "|" + lang.FOR_EACH, tail, re.IGNORECASE))


def _last_sentence(text: str) -> str:
    parts = re.split(r"(?<=[.!?。！？])\s+", text.strip())
    return parts[-1] if parts and len(parts[-1]) > 3 else text[-200:]


def choose(found: list[Found]) -> Found | None:
    """The strongest candidate; ties go to more subtasks, then to the earlier one."""
    usable = [f for f in found if f.strength >= 1]
    if not usable:
        return None
    return max(usable, key=lambda f: (f.strength, f.count, -f.start))


def extract_rules(prompt: str) -> Schema:
    """The rule-based schema of ``prompt``, not yet validated (tier stays rejected until validate())."""
    language = lang.detect_language(prompt)
    found = candidates(prompt, language)
    best = choose(found)
    if best is None:
        return Schema(parallelizable=False, language=language, reasons=("no list, count or set of questions found",))
    if best.pattern == "count-code":
        return Schema(parallelizable=False, language=language, n=best.n, pattern=best.pattern,
                      reasons=(f"the count {best.n} describes what a program should produce, not separate answers",))
    if best.strength < _MIN_STRENGTH:
        return Schema(parallelizable=False, language=language, pattern=best.pattern,
                      reasons=(f"only a weak {best.pattern} pattern found (items look like rules or examples)",))
    schema = _schema_from(prompt, best)
    instruction = _instruction_text(schema.template)
    language = lang.detect_language(instruction) if len(instruction) >= 12 else language
    stated = best.n if best.n is not None else stated_count(instruction)
    conflicting = [f.n for f in found if f.n is not None and f.pattern == "count" and f.n != best.n]
    reasons = (f"the prompt also asks for {conflicting[0]} of something",) if best.n and conflicting else ()
    return schema.model_copy(update={
        "language": language, "stated_count": stated, "category": categorize(schema, instruction),
        "reasons": reasons,
    })


def _schema_from(prompt: str, best: Found) -> Schema:
    zone_start, zone_end = _instruction_zone(prompt, best)
    context_span = _context_span(prompt, zone_start, zone_end, best)
    marker = "{n}" if best.n is not None else "{data}"
    spans = sorted([(best.start, best.end, marker), *([(*context_span, "{context}")] if context_span else [])])
    pieces, pos = [], 0
    for start, end, token in spans:
        pieces += [prompt[pos:start], token]
        pos = end
    pieces.append(prompt[pos:])
    context = prompt[context_span[0]: context_span[1]] if context_span else ""
    return Schema(
        parallelizable=True, template="".join(pieces).strip(), context=context,
        data=list(best.items) if best.n is None else None, n=best.n, pattern=best.pattern,
    )


def _instruction_zone(prompt: str, best: Found) -> tuple[int, int]:
    """Where the instruction that introduces the structure lives: its line(s) through the structure's end."""
    line_start = prompt.rfind("\n", 0, best.start) + 1
    if best.pattern in ("numbered", "bulleted", "lines", "paragraphs") and best.intro:
        intro_at = prompt.rfind(best.intro, 0, best.start)
        line_start = intro_at if intro_at >= 0 else line_start
    if best.n is not None:
        para = prompt.rfind("\n\n", 0, best.start)
        line_start = para + 2 if para >= 0 else 0
        nxt = prompt.find("\n\n", best.end)
        return line_start, nxt if nxt >= 0 else len(prompt)
    end = best.end
    newline = prompt.find("\n", end)
    newline = len(prompt) if newline < 0 else newline
    colon = min((i for ch in ":：" if (i := prompt.find(ch, end, min(newline, end + 200))) >= 0), default=-1)
    if colon >= 0:
        return line_start, colon + 1
    inline_patterns = ("inline-list", "colon-list", "quoted", "questions", "example-list", "fronted-fields", "targets")
    return line_start, newline if best.pattern in inline_patterns else end


def _context_span(prompt: str, zone_start: int, zone_end: int, best: Found) -> tuple[int, int] | None:
    before = (0, zone_start)
    after = (zone_end, len(prompt))
    after_colon = prompt[:zone_end].rstrip().endswith((":", "：")) and prompt[zone_end:].strip()
    sides = [s for s in (after, before) if _is_passage(prompt[s[0]: s[1]].strip(), best)]
    if after_colon and best.n is None and after not in sides:
        sides.append(after)
    if not sides:
        return None
    start, end = max(sides, key=lambda s: len(prompt[s[0]: s[1]].strip()))
    text = prompt[start:end]
    lead = len(text) - len(text.lstrip())
    trail = len(text) - len(text.rstrip())
    return (start + lead, end - trail) if end - trail > start + lead else None


def _is_passage(text: str, best: Found) -> bool:
    """Long enough, or several sentences or lines, to be shared text rather than one more instruction."""
    sentences = len(re.findall(r"[.!?。！？](?:\s|$)", text))
    return len(text) >= _MIN_CONTEXT or (len(text) >= 80 and sentences >= 2) or (best.n is None and "\n" in text)


def _instruction_text(template: str) -> str:
    return re.sub(r"\{(?:data|context|n)\}", " ", template).strip()


_STATED = re.compile(
    r"(?:" + lang.LIST_INTRO + r"|\ball\b|\btodas?\b|\btous\b|\balle\b|\bвсе\b)\s*(?:\w+\s+)?"
    r"(?P<num>\d{1,3}|" + lang.NUMBER_WORD_PATTERN + r")\s*(?:个|個|つ|条|項)?\s*\w",
    re.IGNORECASE,
)
_STATED_AFTER = re.compile(
    r"\b(?P<num>\d{1,3}|" + lang.NUMBER_WORD_PATTERN + r")\s+(?:following|listed|given|below)\b", re.IGNORECASE
)


def stated_count(instruction: str) -> int | None:
    """A count the instruction gives for its items: 'these 5 questions', 'the following four fields'."""
    for pattern in (_STATED, _STATED_AFTER):
        if m := pattern.search(instruction):
            value = lang.parse_number(m.group("num"))
            if value and value >= 2:
                return value
    return None


_CATEGORY_RULES: tuple[tuple[Category | str, re.Pattern[str]], ...] = tuple(
    (cat, re.compile(rx, re.IGNORECASE)) for cat, rx in (
        (Category.TRANSLATION, r"translat|traduc|tradui|traduz|übersetz|перев[оеё]д|翻译|翻譯|翻訳|訳して"),
        (Category.LANGUAGE_CORRECTION, r"\bcorrect|proofread|\bfix\b.{0,30}(?:grammar|spelling|error|mistake)|"
         r"grammatical errors|corrig|korrigier|исправ|纠正|改正|修改.{0,6}(?:语法|错误)|添削|訂正|校正|誤りを直"),
        (Category.SENTIMENT_ANALYSIS, r"sentiment|positive or negative|positive, negative|sentimiento|"
         r"stimmung|тональност|情感|情绪|感情分析|ポジティブ|ネガティブ"),
        (Category.NAMED_ENTITY_RECOGNITION, r"named entit|\bentities\b|\bNER\b|entidades|entités|entitäten|"
         r"сущност|实体|實體|固有表現"),
        (Category.KEYWORD_EXTRACTION, r"\bextract|\bidentify\b|\bpull out\b|keyword|extrae|extrai|extrahier|"
         r"извлеч|извлек|提取|抽取|抽出|キーワード|关键词"),
        ("Summarization", r"summari[sz]e|resume|résume|zusammenfass|обобщи|кратко изложи|总结|概括|要約"),
        ("Rewriting", r"rewrite|paraphrase|reword|reescribe|réécri|umschreib|перепиши|改写|改寫|言い換え"),
    )
)


def categorize(schema: Extraction, instruction: str) -> str:
    """A canonical category when the instruction names one, a novel one (Summarization, Rewriting) when it
    names that; other item lists (questions, ratings, classifications) are Reading Comprehension, as in
    ParallelPrompt, where rating sentences is reading comprehension."""
    if schema.n is not None:
        return Category.REPEATED_GENERATION.value
    for category, pattern in _CATEGORY_RULES:
        if pattern.search(instruction):
            return str(category)
    return Category.READING_COMPREHENSION.value
    return Category.READING_COMPREHENSION.value
