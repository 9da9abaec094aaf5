"""Finders for structure inside running text: counts, inline lists, quoted lists, several questions.

Companion of :mod:`graphs.compiler.patterns` (which handles line-based
lists). Each language gets the same families, built from the lexicon in
:mod:`graphs.compiler.lang`.
"""

from __future__ import annotations

import re

from graphs.compiler import lang
from graphs.compiler.patterns import Found, Line, clean_item

_UNITS = frozenset(
    """word words character characters chars char token tokens letter-long minute minutes hour hours second seconds
    day days week weeks month months year years page pages time times percent lines line paragraphs paragraph
    steps step stanzas stanza verses verse chapters chapter digit-long mb kb gb tb km m kg g lbs lb mg ml cm mm
    am pm x dollars euros usd point points pts of or and to than palabras palabra minutos años páginas
    líneas párrafos pasos mots mot minutes années pages lignes paragraphes étapes wörter wort minuten jahre
    seiten zeilen absätze schritte слов слова минут лет страниц строк абзацев шагов""".split()
) | lang.POINT_WORDS
CODE_WORDS = re.compile(
    r"\b(?:code|program|programme|script|function|class|method|query|regex|algorithm|macro|formula|snippet|"
    r"app|bot|código|programa|función|fonction|programm|funktion|код|программ\w*|функци\w*)\b",
    re.IGNORECASE,
)
_DATA_REF = re.compile(r"(?:following|these|those|above|below|listed|given|siguientes|suivants|suivantes|"
                       r"folgenden|следующие|эти)\s*$", re.IGNORECASE)

_GAP_WORDS = (
    r"me|us|him|her|them|you|out|up|with|a|an|list|set|series|total|of|at|least|most|exactly|another|about|"
    r"around|to|some|only|just|quickly|please|again|here|now|for|your|own|top|all|first|the|best|most|"
    r"me|nos|una|lista|de|un|total|al|menos|moi|nous|une|liste|au|moins|mir|uns|eine|liste|von|mindestens|"
    r"мне|нам|список|из|хотя|бы|по|крайней|мере"
)
_LATIN_COUNT = {
    code: re.compile(
        r"(?<![\w-])(?P<verb>" + lang.CREATE_VERBS[code] + r")(?![\w-])"
        r"(?P<gap>(?:[ \t]+(?:" + _GAP_WORDS + r")){0,5}?)[ \t]+"
        r"(?P<num>\d{1,3}(?:\s*(?:-|–|to|a|à|bis|до)\s*\d{1,3}|\+)?|" + lang.NUMBER_WORD_PATTERN + r")"
        r"[ \t]+(?:(?:more|other|different|new|additional|unique|extra|distinct|similar|random|más|otras?|otros|"
        r"autres?|nouvelles?|nouveaux|weitere|andere|neue|ещё|еще|других|новых)[ \t]+)?"
        r"(?P<noun>[^\W\d_][\w'’]*)(?![-\d])",
        re.IGNORECASE,
    )
    for code in ("en", "es", "fr", "de", "ru", "pt", "it")
}
_ZH_COUNT = re.compile(
    r"(?P<verb>" + lang.CREATE_VERBS["zh"] + r")[^。！？!?\n]{0,12}?(?P<num>" + lang.CJK_NUMERAL + r")\s*"
    r"(?P<noun>" + lang.ZH_COUNTERS + r")"
)
_JA_COUNT = re.compile(
    r"(?P<num>" + lang.CJK_NUMERAL + r")\s*(?P<noun>" + lang.JA_COUNTERS + r")[^。！？!?\n]{0,30}?"
    r"(?P<verb>" + lang.CREATE_VERBS["ja"] + r")"
)


def counts(text: str) -> list[Found]:
    """'generate 10 names', 'dame cinco ideas', '写10个标题', '10個考えて'."""
    found = []
    for pattern in (*_LATIN_COUNT.values(), _ZH_COUNT, _JA_COUNT, _WANT, _WHAT_ARE):
        for m in pattern.finditer(text):
            candidate = _count_candidate(text, m)
            if candidate:
                found.append(candidate)
    return found


_NOUN_USE = re.compile(r"(?:\b(?:a|an|the|of|this|that|my|your|our|their|his|her|its|un|une|le|la|el|los|"
                       r"las|ein|eine|der|die|das)\s*)$", re.IGNORECASE)
# What may stand before a request's verb: a separator or block marker ("[Task]", "<task>", "### Instruction:"),
# a politeness or linking word, or any adverb in -ly ("Creatively write ...") that is not a noun.
_REQUEST_LEAD = re.compile(
    r"(?:^|[,:;*#>\-(\"'”’)\[\]{}|]|\b(?!(?:family|italy|july|ally|rally|belly|assembly|supply|anomaly|butterfly|"
    r"lily|jelly|reply|monopoly|holly|polly|emily|molly|sally|billy|kelly)\b)[a-z]{2,}ly\b|\b(?:please|pls|kindly|you|to|and|then|now|also|just|first|me|us|i|we|let's|lets|"
    r"can|could|would|will|help|pl[eê]ase|simply|quickly|briefly|finally|next|additionally|so|but|or)\b)\s*$",
    re.IGNORECASE)
_WH_SENTENCE = re.compile(r"^\W*(?:how|what|which|why|when|where|who|whom|whose|if|suppose|assuming)\b",
                          re.IGNORECASE)


def _is_request(text: str, m: re.Match[str]) -> bool:
    """The verb starts a request ('Please generate', 'You will write'), not a narrative ('they make 50')."""
    sentence_start = max(text.rfind(ch, 0, m.start()) for ch in ".!?\n。！？") + 1
    lead = text[sentence_start: m.start()]
    if _WH_SENTENCE.match(text[sentence_start:]) or _NOUN_USE.search(lead):
        return False
    if m.re not in (_LATIN_COUNT["en"], _KE_PATTERNS["en"], _WANT):
        return True
    return bool(_REQUEST_LEAD.search(lead))


_WANT = re.compile(
    r"(?<![\w-])(?P<verb>(?:i|we)\s+(?:need|want|would\s+like|'d\s+like)|looking\s+for)(?P<gap>)[ \t]+"
    r"(?P<num>\d{1,3}\+?|" + lang.NUMBER_WORD_PATTERN + r")[ \t]+(?:[\w-]+[ \t]+){0,2}?"
    r"(?P<noun>ideas|names|titles|slogans|suggestions|examples|options|questions|sentences|tips|jokes|taglines|"
    r"headlines|descriptions|prompts|captions|phrases|stories|poems|tweets|posts|ways|reasons|topics|variations|"
    r"alternatives|versions|synonyms|quotes|riddles|recipes)\b",
    re.IGNORECASE,
)


_WHAT_ARE = re.compile(
    r"(?<![\w-])(?P<verb>what\s+are|what\s+would\s+be|qu[eé]\s+son|quels\s+sont|quelles\s+sont|was\s+sind|"
    r"каковы)(?P<gap>)\s+(?P<num>\d{1,3}\+?|" + lang.NUMBER_WORD_PATTERN + r")\s+"
    r"(?:[\w-]+\s+){0,2}?(?P<noun>ways|ideas|tips|reasons|examples|things|benefits|steps|names|questions|options|"
    r"strategies|signs|facts|places|books|movies|uses|mistakes|advantages|disadvantages|alternatives|"
    r"maneras|formas|ideas|razones|ejemplos|façons|idées|raisons|exemples|möglichkeiten|ideen|gründe|beispiele|"
    r"способов|идей|причин|примеров)\b",
    re.IGNORECASE,
)


def _count_candidate(text: str, m: re.Match[str]) -> Found | None:
    noun = m.group("noun").lower()
    n = lang.parse_number(m.group("num"))
    before = text[m.start(): m.start("num")]
    if n is None or n < 2 or n > 1000 or noun in _UNITS or _DATA_REF.search(before):
        return None
    if noun in ("点", "點", "分") and re.search(r"[(（\[【]\s*$", text[max(0, m.start("num") - 2): m.start("num")]):
        return None  # "（10点）": the points a question is worth
    if m.re is not _WHAT_ARE and not _is_request(text, m):
        return None
    if re.search(r"\b(?:the|los|las|les|die|den)\s*$", before, re.IGNORECASE):
        return None  # "outline the two main stages": a known set, not new items
    if m.re is not _JA_COUNT and "gap" in m.groupdict() and m.group("gap") and CODE_WORDS.search(m.group("gap")):
        return Found("count-code", m.start("num"), m.end("num"), n=n, strength=1, intro=sentence_around(text, m.start()))
    head = sentence_around(text, m.start())
    code_before = CODE_WORDS.search(text[max(0, m.start() - 80): m.start()]) and re.search(
        r"\b(?:write|create|make|give|develop|implement|escribe|écris|schreibe|напиши)\b",
        text[max(0, m.start() - 80): m.start()], re.IGNORECASE)
    pattern = "count-code" if code_before else "count"
    return Found(pattern, m.start("num"), m.end("num"), n=n, strength=6 if pattern == "count" else 1, intro=head)


def sentence_around(text: str, pos: int) -> str:
    start = max(text.rfind(ch, 0, pos) for ch in ".!?\n。！？") + 1
    ends = [i for ch in ".!?\n。！？" if (i := text.find(ch, pos)) >= 0]
    return text[start: min(ends, default=len(text))].strip()


# --- inline lists -----------------------------------------------------------

def split_list(text: str, conj: str) -> list[str]:
    """Split 'a, b (x, y), and c' at depth 0 on , ; 、 ， ； then the last item on the conjunction."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch in "([{（【「":
            depth += 1
        elif ch in ")]}）】」" and depth:
            depth -= 1
        if depth == 0 and ch in ",;、，；":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    parts = [p.strip() for p in parts if p.strip()]
    if not parts:
        return []
    tail = re.split(r"\s*(?:" + conj + r")\s*", parts[-1], maxsplit=1) if len(parts) <= 12 else [parts[-1]]
    tail = [t for t in tail if t.strip()]
    if len(parts) > 1 and len(tail) == 2:
        parts = parts[:-1] + tail
    elif len(parts) == 1 and len(tail) == 2:
        parts = tail
    # "a, b, and c": the serial comma leaves "and c" as the last part; a leading space lets the conjunction match.
    parts = [re.sub(r"^(?:" + conj + r")", "", " " + p.strip(), flags=re.IGNORECASE).strip() for p in parts]
    return [clean_item(p) for p in parts if clean_item(p)]


_KE = {
    "en": (r"extract|identify|find|list|get|pull(?:\s+out)?|pick\s+out|detect|determine|recogni[sz]e|locate|"
           r"retrieve|capture|collect|gather|obtain|fetch|grab",
           r"\s(?:from|in|of|within|out\s+of|about)(?:\s+(?:the|this|these|that|those|following|given|below|above|"
           r"provided|attached|each|a|an|my|our|his|her|their|it)\b|\s*[:：])",
           r"\s*,?\s+and\s+|\s*&\s*", r"^(?:the|all|only|also|any|out)\s+"),
    "es": (r"extrae|extraer|extraiga|identifica|identificar|encuentra|enumera|lista|obtén|saca|detecta",
           r"\s(?:del|de\s+(?:la|las|los|el|este|esta|estos|estas|un|una)|en\s+(?:el|la|los|las|este|esta))\b",
           r"\s*,?\s+[ye]\s+", r"^(?:el|la|los|las|todos\s+los|todas\s+las)\s+"),
    "fr": (r"extrais|extrayez|extraire|identifie|identifiez|trouve|trouvez|liste|listez|relève|relevez|détecte",
           r"\s(?:du|des|de\s+(?:la|ce|cette|ces)|de\s+l'|dans\s+(?:le|la|les|ce|cette|ces|l')|d'un|d'une)",
           r"\s*,?\s+et\s+", r"^(?:le|la|les|l'|tous\s+les|toutes\s+les)\s*"),
    "de": (r"extrahiere|extrahieren|identifiziere|identifizieren|finde|liste|nenne|ermittle|bestimme|erkenne",
           r"\s(?:aus|in|von)\s+(?:dem|der|den|diesem|dieser|diesen|folgenden|einem|einer|des)\b",
           r"\s*,?\s+und\s+", r"^(?:den|die|das|alle)\s+"),
    "ru": (r"извлеки|извлеките|извлечь|найди|найдите|выдели|выделите|определи|определите|перечисли|укажи|укажите",
           r"\s(?:из|в|во)\s+\w+", r"\s*,?\s+и\s+", r"^(?:все)\s+"),
}
_KE_PATTERNS = {
    code: re.compile(r"(?<![\w-])(?:" + verbs + r")(?![\w-])[ \t]+(?P<list>[^\n]{3,600}?)(?=" + prep
                     + r"|[:：]|\.(?:\s|$)|\n|$)", re.IGNORECASE)
    for code, (verbs, prep, _conj, _det) in _KE.items()
}


# The source named between the verb and the fields ("Extract from the email below the sender, ..."; German
# and Russian put it there as a rule: "Extrahiere aus dem Text den Namen, ...").
_KE_SOURCE = {
    "en": r"^(?:from|in|out\s+of|within)\s+(?:the|this|these|that|those|each|a|an|my|our|your)\s+(?:[\w'-]+\s+){0,3}?"
          r"(?=(?:the|all|any|its|his|her|their)\s)",
    "es": r"^(?:del|de\s+(?:la|las|los|el|este|esta|estos|estas)|en\s+(?:el|la|este|esta))\s+(?:[\w-]+\s+){0,3}?"
          r"(?=(?:el|la|los|las|su|sus|todos|todas)\s)",
    "fr": r"^(?:du|des|de\s+(?:la|ce|cette|ces)|de\s+l'|dans\s+(?:le|la|les|ce|cette))\s*(?:[\w'-]+\s+){0,3}?"
          r"(?=(?:le|la|les|l'|son|sa|ses|tous|toutes)\s?)",
    "de": r"^(?:aus|in|von)\s+(?:dem|der|den|diesem|dieser|diesen|einem|einer)\s+(?:[\w-]+\s+){0,3}?"
          r"(?=(?:den|die|das|dem|der|alle|seine\w*|ihre\w*)\s)",
    "ru": r"^(?:из|в|во)\s+\w+\s+(?:(?:ниже|выше)\s+)?",
}


def inline_lists(text: str) -> list[Found]:
    """'Extract A, B and C from the text', in each supported Latin/Cyrillic language."""
    found = []
    for code, pattern in _KE_PATTERNS.items():
        conj, det = _KE[code][2], _KE[code][3]
        for m in pattern.finditer(text):
            if code == "en" and not _is_request(text, m):
                continue
            listed = re.sub(_KE_SOURCE[code], "", m.group("list").strip(), flags=re.IGNORECASE)
            body = re.sub(det, "", listed, flags=re.IGNORECASE)
            items = [re.sub(det, "", i, flags=re.IGNORECASE) for i in split_list(body, conj)]
            if noun_phrases(items, body):
                start = m.start("list") + m.group("list").find(body[:10]) if body[:10] in m.group("list") else m.start("list")
                found.append(Found("inline-list", start, m.end("list"), tuple(items), strength=5,
                                   intro=text[m.start(): m.start("list")]))
    return found


_PRONOUN = re.compile(r"\b(?:it|them|you|me|my|your|i|we|us|him|lo|la|le|les|es|sie|ihn|его|её|их)\b", re.IGNORECASE)


def noun_phrases(items: list[str], body: str) -> bool:
    """Items look like fields to extract: short, no pronoun objects, a real enumeration (a comma or 3+)."""
    if len(items) < 2 or not all(_short_item(i) for i in items):
        return False
    if sum(bool(_PRONOUN.search(i)) for i in items) * 2 >= len(items):
        return False
    return bool(re.search(r"[,;、，；]", body))


def _short_item(item: str) -> bool:
    bare = re.sub(r"\([^)]*\)", "", item)
    return 0 < len(bare.split()) <= 8 and len(item) <= 160


_EXAMPLES = re.compile(
    r"(?:\b(?:such\s+as|like|including|e\.g\.,?|for\s+example|namely|as\s+follows|tales\s+como|como|"
    r"p\.\s?ej\.|tels?\s+que|telles?\s+que|comme|par\s+exemple|wie|z\.\s?B\.|beispielsweise|"
    r"такие\s+как|например)|\bwith\s+(?:the\s+)?(?:columns?|fields?|keys?|attributes?|headers?|headings?)|"
    r"\b(?:columns?|fields?|keys?|attributes?)\s*[:=])"
    r"\s*:?[ \t]+(?P<list>[^\n.()]{3,400}?)(?:,?\s*(?:etc\.?|and\s+so\s+on|and\s+more|usw\.?|и\s+т\.\s?д\.?))?"
    r"(?=[.()\n]|$)",
    re.IGNORECASE,
)
EXTRACT_VERB = re.compile(r"(?<![\w-])(?:" + "|".join(v[0] for v in _KE.values()) + r")(?![\w-])", re.IGNORECASE)


def example_lists(text: str) -> list[Found]:
    """'Extract attributes such as brand, color, size' / 'in CSV with columns a, b, c'."""
    found = []
    for m in _EXAMPLES.finditer(text):
        sentence = sentence_around(text, m.start())
        if not EXTRACT_VERB.search(sentence):
            continue
        body = m.group("list").strip()
        items = split_list(body, r"\s*,?\s+(?:and|y|et|und|и)\s+")
        if noun_phrases(items, body):
            start = m.start("list") + m.group("list").find(body)
            found.append(Found("example-list", start, start + len(body), tuple(items), strength=4, intro=sentence))
    return found


_RECORD = re.compile(r"^[ \t]*(?P<key>[^\W\d][^:\n]{0,40}?)[ \t]*:[ \t]*\S.*$", re.MULTILINE)


def record_keys(text: str, lines: list[Line]) -> list[Found]:
    """'Extract the information' over 'Key: value' lines: one subtask per key."""
    first = next((line.text for line in lines if not line.blank), "")
    if not EXTRACT_VERB.search(first):
        return []
    keys = [m for m in _RECORD.finditer(text) if m.start() > len(first)]
    if len(keys) < 3:
        return []
    items = tuple(clean_item(m.group("key")) for m in keys)
    return [Found("record-keys", keys[0].start(), keys[-1].end(), items, strength=3, intro=first.strip())]


_CJK_LIST = re.compile(r"[^、，,。\n：:；;！？!?]{1,40}(?:、[^、，,。\n：:；;！？!?]{1,40})+")
_CJK_VERBS = (r"提取|抽取|找出|识别|識別|列出|获取|獲取|翻译|翻譯|分类|分類|判断|判斷|分析|解释|解釋|回答|"
              r"抽出|翻訳|答えて|説明|特定|教えて|評価|评价|纠正|修改|訂正|添削")
_CJK_HEAD = re.compile(r"^.*(?:中的|里的|裡的|中|的|から|の中の|について|(?:" + _CJK_VERBS + r")(?:出)?)")
_CJK_TAIL = re.compile(r"(?:を|が|は|について|などを|等|等等|的信息|の情報).*$")


def cjk_lists(text: str, language: str) -> list[Found]:
    """Chinese/Japanese enumerations with 、 inside a sentence that asks to process them."""
    if not lang.is_cjk(language):
        return []
    found = []
    for m in _CJK_LIST.finditer(text):
        sentence = sentence_around(text, m.start())
        if not re.search(_CJK_VERBS, sentence):
            continue
        raw = m.group(0).split("、")
        raw[0] = _CJK_HEAD.sub("", raw[0]) or raw[0]
        raw[-1] = _CJK_TAIL.sub("", raw[-1])
        last = re.split(r"和|及|以及|与|與|や|と", raw[-1])
        items = [clean_item(i) for i in raw[:-1] + [x for x in last if x.strip()]]
        items = [i for i in items if i]
        if len(items) >= 2:
            start = m.start() + m.group(0).find(items[0])
            end = m.start() + m.group(0).rfind(items[-1]) + len(items[-1])
            found.append(Found("inline-list", start, end, tuple(items), strength=5, intro=sentence))
    return found


_COLON_LIST = re.compile(r"^(?P<intro>[^:\n：]{3,200}?)[:：][ \t]*(?P<list>[^\n]+?)[ \t]*$", re.MULTILINE)
_TASK_INTRO = re.compile(
    "|".join([lang.LIST_INTRO, lang.FOR_EACH, *(lang.CREATE_VERBS[c] for c in ("zh", "ja")),
              *(r"(?<![\w-])(?:" + lang.CREATE_VERBS[c] + r")(?![\w-])" for c in ("en", "es", "fr", "de", "ru")),
              r"(?<![\w-])(?:" + "|".join(v[0] for v in _KE.values()) + r")(?![\w-])",
              r"\b(?:translate|rate|classify|correct|answer|evaluate|traduce|traduis|übersetze|переведи)\w*"]),
    re.IGNORECASE,
)


def colon_lists(text: str, language: str) -> list[Found]:
    """'Translate into French: apple, pear, plum' — a comma/semicolon list filling the rest of a line."""
    found = []
    conj = r"\s+(?:and|or|y|o|et|ou|und|oder|и|или)\s+|和|及|与|や|と"
    for m in _COLON_LIST.finditer(text):
        intro, body = m.group("intro").strip(), re.split(r"(?<=[^\s.])[.!?。！？](?:\s|$)", m.group("list"))[0]
        if not _TASK_INTRO.search(intro):
            continue
        items = split_list(body, conj)
        if len(items) < 2 or not all(_short_item(i) for i in items) or not re.search(r"[,;、，；]", body):
            continue
        if re.search(r"[:：]", body) or body.count('"') % 2:
            continue  # "Label: text" or a quotation cut in half, not a list
        found.append(Found("colon-list", m.start("list"), m.start("list") + len(body), tuple(items),
                           strength=4, intro=intro))
    return found


_QUOTED = re.compile(r"(?:\"[^\"\n]{1,120}\"|“[^”\n]{1,120}”|«[^»\n]{1,120}»|「[^」\n]{1,120}」|(?<!\w)'[^'\n]{1,80}'(?!\w))")
_QUOTE_GAP = re.compile(r"^\s*(?:[,;、，]\s*)?(?:(?:and|or|y|o|et|ou|und|oder|и|или|和|与|と)\s*)?$", re.IGNORECASE)


def quoted_lists(text: str) -> list[Found]:
    """'"hello", "goodbye" and "thanks"' — two or more quoted strings in a row."""
    found, run = [], []
    for m in _QUOTED.finditer(text):
        if run and _QUOTE_GAP.match(text[run[-1].end(): m.start()]):
            run.append(m)
            continue
        if len(run) >= 2:
            found.append(_quoted_found(text, run))
        run = [m]
    if len(run) >= 2:
        found.append(_quoted_found(text, run))
    return found


def _quoted_found(text: str, run: list[re.Match[str]]) -> Found:
    items = tuple(clean_item(m.group(0)) for m in run)
    sentence_start = max(text.rfind(ch, 0, run[0].start()) for ch in ".!?\n。！？") + 1
    intro = text[sentence_start: run[0].start()].strip() or sentence_around(text, max(sentence_start - 2, 0))
    return Found("quoted", run[0].start(), run[-1].end(), items, strength=3, intro=intro)


_QUESTION = re.compile(r"[^.!?？。\n]*[?？]")
_ANAPHORA = re.compile(r"\b(?:it|its|this|that|they|them|their|these|those|he|she|his|her|so|then|also)\b",
                       re.IGNORECASE)


def several_questions(text: str, lines: list[Line], language: str) -> list[Found]:
    """Three or more standalone questions in one paragraph: 'What is X? Who invented Y? Where is Z?'."""
    found = []
    for line in lines:
        questions = list(_QUESTION.finditer(line.text))
        if len(questions) < 3 or not all(_long_enough(q.group(0), language) for q in questions):
            continue
        if language == "en" and any(_ANAPHORA.search(q.group(0)) for q in questions[1:]):
            continue
        items = tuple(clean_item(q.group(0)) for q in questions)
        found.append(Found("questions", line.start + questions[0].start(), line.start + questions[-1].end(), items,
                           strength=2, intro=line.text[: questions[0].start()].strip()))
    return found


def _long_enough(question: str, language: str) -> bool:
    q = question.strip()
    return len(q) >= 8 if lang.is_cjk(language) else len(q.split()) >= 4
