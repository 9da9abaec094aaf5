"""Dependency detection: what ties a prompt's subtasks together.

ParallelPrompt's "dependency blindness": a quarter of validated prompts hide
links between subtasks. Three kinds are found here, from the instruction
text (the template without its items and passage) and from the items:

- AGGREGATE: a final step over all results ("then summarize/compare/rank
  them"). Parallel stays safe; a final node depends on the join.
- CHAIN: subtasks need earlier ones. When the instruction says so ("each
  builds on the previous", "based on the first two statements") parallelism
  is unsafe: the graph is a serial chain and the reason says why. When one
  item says so ("If so, ...", "the previous answer"), only that item waits:
  an edge item k-1 -> item k inside the otherwise parallel scope.
- DIVERSITY: repeated generations must differ ("10 different names"; always
  implied when one request is repeated n times). Each branch is told which
  slot of the set it covers.
- SHARED: a repeated generation also asks for something said once
  ("Explain X and list five examples"). One more node answers that part,
  and the answer puts it before the items, as the serial answer would.
"""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from graphs.compiler import lang
from graphs.compiler.schema import Schema


class DependencyKind(StrEnum):
    """How subtasks depend on each other."""

    AGGREGATE = "aggregate"
    CHAIN = "chain"
    DIVERSITY = "diversity"
    SHARED = "shared"


class Dependency(BaseModel):
    """One dependency found in a prompt."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: DependencyKind = Field(description="aggregate, chain or diversity.")
    evidence: str = Field(description="The words of the prompt that show it ('' when implied).")
    item: int | None = Field(None, description="1-based item that depends on the one before it (chains).")
    serial: bool = Field(description="True when this dependency makes running the subtasks in parallel unsafe.")
    reason: str = Field(description="One sentence for people.")


def _rx(*parts: str) -> re.Pattern[str]:
    return re.compile("|".join(parts), re.IGNORECASE)


_AGGREGATE = _rx(
    r"\b(?:then|and\s+then|finally|afterwards|after\s+that|at\s+the\s+end|lastly|in\s+the\s+end)\b[^.?!\n]{0,40}?"
    r"\b(?:summari[sz]e|compare|rank|sort|order|choose|pick|select|combine|merge|aggregate|conclude|recommend|"
    r"decide|vote|identify\s+the\s+best|determine\s+which|tell\s+me\s+which|give\s+an?\s+overall)\b",
    r"\b(?:compare|rank|sort|order|contrast)\s+(?:them|these|those|all|the\s+(?:results|answers|translations|"
    r"ideas|options|items))\b",
    r"\bwhich\s+(?:one|of\s+(?:them|these|those))\s+(?:is|are|would|was)\b",
    r"\b(?:pick|choose|select)\s+the\s+best\b|\boverall\s+(?:summary|score|rating|verdict|ranking)\b",
    r"\bsummary\s+of\s+(?:all|the)\s+(?:answers|results|translations)\b|\bin\s+the\s+order\s+they\b",
    r"(?:然后|最后|再)[^。！？\n]{0,12}(?:总结|比较|排序|排名|选出|挑选|汇总|归纳)|比较(?:它们|这些)|哪个最",
    r"(?:その後|最後に|それから)[^。！？\n]{0,20}(?:まとめ|比較|ランク|順位|選んで|要約)|どれが最も",
    r"\b(?:luego|después|finalmente|por\s+último)\b[^.?!\n]{0,40}\b(?:resume|resumir|compara|comparar|clasifica|"
    r"ordena|elige|selecciona|combina)\w*|\b(?:compáralos|ordénalos)\b",
    r"\b(?:puis|ensuite|enfin|finalement)\b[^.?!\n]{0,40}\b(?:résume|résumez|compare|comparez|classe|classez|"
    r"choisis|choisissez|sélectionne|combine)\w*|\bcompare[sz]?-les\b",
    r"\b(?:dann|danach|anschließend|abschließend|schließlich)\b[^.?!\n]{0,40}\b(?:fasse|vergleiche|vergleicht|"
    r"ordne|sortiere|wähle|kombiniere|bewerte|rangiere)\w*|\bvergleiche\s+sie\b",
    r"(?:затем|потом|в\s+конце|наконец|после\s+этого)[^.?!\n]{0,40}(?:обобщи|сравни|ранжируй|отсортируй|выбери|"
    r"объедини|подведи)\w*|\bсравни(?:те)?\s+их\b",
)

_CHAIN = _rx(
    r"\b(?:based\s+on|using|use|building\s+on|build\s+on|from|given)\s+(?:the\s+|your\s+|my\s+)?(?:previous|preceding|"
    r"prior|last|above|earlier)\s+(?:answer|response|result|output|one|step|item|question|part|sentence)s?\b",
    r"\beach\s+(?:\w+\s+)?(?:should\s+|must\s+|will\s+)?(?:builds?|continues?|follows?|expands?|extends?|"
    r"picks?\s+up)\b(?:\s+\w+){0,3}?\s+(?:previous|prior|last|preceding)\b",
    r"\bcontinue\s+(?:from|where)\b|\bthe\s+next\s+(?:one|item|step)\s+(?:should|must)\b",
    r"\b(?:the|your)\s+(?:answer|result|output)\s+(?:to|of|from)\s+(?:question|step|part|item)\s*#?\d",
    r"\b(?:based\s+on|given|from)\s+the\s+(?:first|second|third|last)\s+(?:two\s+|three\s+)?(?:statements?|items?|"
    r"questions?|sentences?|answers?)\b",
    r"根据上一|基于上一|上一(?:个|步|题)的(?:答案|结果)|接着上|根据前(?:面|一)",
    r"前の(?:答え|回答|結果|質問)|前述の回答|前の項目",
    r"\b(?:respuesta|resultado)\s+anterior\b|\bbasándote\s+en\s+(?:la|el)\s+anterior\b|\bcontinúa\s+(?:desde|con)\b",
    r"\b(?:réponse|résultat)\s+précédente?\b|\ben\s+te\s+basant\s+sur\s+(?:la|le)\s+précédente?\b",
    r"\bvorherige[nrs]?\s+(?:antwort|ergebnis|frage|schritt)\b|\bvorigen\s+(?:antwort|ergebnis)\b",
    r"\bпредыдущ\w+\s+(?:ответ|результат|вопрос|шаг)\w*|\bна\s+основе\s+предыдущ\w*",
)

_ITEM_CHAIN = _rx(
    r"^\W*(?:if\s+(?:so|yes|not|no|the\s+answer)|otherwise|in\s+that\s+case|then\b|and\s+then\b|si\s+(?:es\s+así|sí|no)\b|"
    r"si\s+oui|si\s+non|falls\s+(?:ja|nein|ja,)|wenn\s+ja|если\s+(?:да|нет)|如果是|如果不是|そうであれば|もしそうなら)",
    r"\b(?:previous|preceding|above|prior|last)\s+(?:question|answer|item|one|step|part)\b",
    r"\b(?:answer|result)\s+(?:to|of|from)\s+(?:question|item|step|part)?\s*#?\d+",
)

_DIVERSITY = _rx(
    r"\b(?:different|differ|diverse|diversity|varied|variety|vary|unique|distinct|non-repeating|no\s+repeats?|"
    r"not\s+repeat|don't\s+repeat|do\s+not\s+repeat|each\s+other|one\s+another)\b",
    r"不同|不重复|不重複|各不相同|多样|多樣|異なる|重複しない|バラエティ|様々な",
    r"\b(?:diferentes|distint[oa]s|variad[oa]s|únic[oa]s|différent[e]?s|variés|variées|uniques|unterschiedlich\w*|"
    r"verschieden\w*|einzigartig\w*|разн\w+|различн\w+|уникальн\w+|не\s+повторя\w*)\b",
)


_SHARED_VERB = re.compile(
    r"^\s*(?:please\s+|first,?\s+|briefly\s+|now\s+)?(?:explain|describe|discuss|define|summari[sz]e|introduce|"
    r"analy[sz]e|compare|outline|tell\s+me\s+about|give\s+(?:me\s+)?an?\s+(?:overview|introduction|summary|"
    r"definition))\b",
    re.IGNORECASE,
)
_AND_COUNT = re.compile(r"\band\s+(?:then\s+)?(?:also\s+)?(?:" + lang.CREATE_VERBS["en"] + r")\b[^{]*\{n\}",
                        re.IGNORECASE)


def _shared_part(template: str) -> str | None:
    """The sentence of a repeated generation that asks for something said once, if any."""
    for sentence in re.split(r"(?<=[.!?])\s+|\n+", template):
        m = _SHARED_VERB.match(sentence)
        if m and ("{n}" not in sentence or _AND_COUNT.search(sentence)):
            cut = _AND_COUNT.search(sentence)
            return sentence[: cut.start()].strip() if cut else sentence.strip()
    return None


def instruction_text(schema: Schema) -> str:
    """The template without the items and the passage: what the prompt asks, not what it gives."""
    return re.sub(r"\{(?:data|context|n)\}", " ", schema.template)


def detect(schema: Schema) -> tuple[Dependency, ...]:
    """Every dependency between the subtasks of ``schema``."""
    text = instruction_text(schema)
    found: list[Dependency] = []
    if m := _CHAIN.search(text):
        found.append(Dependency(kind=DependencyKind.CHAIN, evidence=m.group(0).strip(), serial=True,
                                reason=f"the request links its subtasks in order ('{m.group(0).strip()}')"))
    for k, item in enumerate(schema.data or (), start=1):
        if k > 1 and (m := _ITEM_CHAIN.search(item)):
            found.append(Dependency(kind=DependencyKind.CHAIN, evidence=m.group(0).strip(), item=k, serial=False,
                                    reason=f"item {k} waits for item {k - 1}, whose answer it needs "
                                           f"('{m.group(0).strip()}')"))
    if m := _AGGREGATE.search(text):
        found.append(Dependency(kind=DependencyKind.AGGREGATE, evidence=m.group(0).strip(), serial=False,
                                reason=f"a final step uses all results ('{m.group(0).strip()}')"))
    if schema.n is not None:
        m = _DIVERSITY.search(text)
        evidence = m.group(0).strip() if m else ""
        why = f"the request asks for distinct results ('{evidence}')" if m else \
            "repeated generations must not duplicate each other"
        found.append(Dependency(kind=DependencyKind.DIVERSITY, evidence=evidence, serial=False,
                                reason=f"{why}; each branch is told which of the {schema.n} slots it covers"))
        if shared := _shared_part(schema.template):
            found.append(Dependency(kind=DependencyKind.SHARED, evidence=shared, serial=False,
                                    reason=f"part of the request is answered once, before the items ('{shared}')"))
    return tuple(found)


def is_serial(dependencies: tuple[Dependency, ...]) -> bool:
    """True when some dependency makes parallel execution unsafe."""
    return any(d.serial for d in dependencies)
