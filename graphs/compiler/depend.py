"""Dependency detection: what ties a prompt's subtasks together.

ParallelPrompt's "dependency blindness": a quarter of validated prompts hide
links between subtasks. Three kinds are found here, from the instruction
text (the template without its items and passage) and from the items:

- AGGREGATE: a final step over all results ("then summarize/compare/rank
  them", "combine them into one paragraph", "a story that uses all of
  them", "compare ideas 2 and 4", "group them by theme"). Parallel stays
  safe; a final node depends on the join.
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

# A final step after the items, in the phrasings people use for it. Each family is one dependency class:
# summing up or combining the results; a creative step that uses every generated item; a final artefact that
# refers back to the items by their numbers; organising the items (grouping, sorting into categories).
_RESULTS = (r"(?:them|these|those|everything|all\s+(?:of\s+)?(?:them|these|those|the\s+[\w-]+)|the\s+(?:[\w-]+\s+)?"
            r"(?:results|answers|findings|responses|points|items|ideas|outputs|translations|parts|sections|pieces|"
            r"names|suggestions|options|words|questions|list))")
_ARTEFACT = (r"(?:story|poem|song|paragraph|essay|scene|dialogue|script|narrative|tale|letter|speech|article|post|"
             r"menu|itinerary|playlist|plan|outline|sentence|text|limerick|rap|skit|recipe|summary|report)")
_SUMMARY = _rx(
    r"\b(?:then|and\s+then|finally|afterwards|after\s+that|at\s+the\s+end|lastly|in\s+the\s+end|to\s+finish|"
    r"to\s+conclude)\b[^.?!\n]{0,60}?\b(?:write|give|add|provide|produce|create|end\s+with|include|offer|draft)\s+"
    r"(?:an?\s+|one\s+|the\s+)?(?:[\w-]+\s+){0,2}?(?:summary|conclusion|overview|synthesis|recap|comparison|verdict)",
    r"\b(?:summari[sz]e|sum\s+up|recap|synthesi[sz]e|consolidate|combine|merge|integrate|unify|bring\s+together|"
    r"put\s+together|tie\s+together|wrap\s+up)\s+" + _RESULTS + r"(?!\w)",
    r"\b(?:a|an|one|the)\s+(?:[\w-]+\s+){0,2}?(?:summary|conclusion|overview|synthesis|recap)\s+(?:of|that\s+"
    r"(?:covers|combines|brings\s+together|ties\s+together)|covering|combining)\s+(?:all|every|both|them|these|"
    r"the\s+(?:[\w-]+\s+)?(?:results|answers|points|items|ideas|findings))\b",
    r"\b(?:combine|merge|integrate|weave|blend|assemble|compile|fold)\s+" + _RESULTS + r"\s+(?:into|in)\s+"
    r"(?:a|an|one|the\s+same|a\s+single)\b",
    r"\b(?:resume|resumir|sintetiza|combina|une|integra|junta|fusiona)(?:los|las)?\s+(?:todos|todas|todo|"
    r"los\s+resultados|las\s+respuestas)\b|\bun\s+resumen\s+(?:de|con)\s+(?:todos|todas|los|las)\b|"
    r"\b(?:combínalos|combínalas|únelos|únelas|intégralos|resúmelos|resúmelas)\b",
    r"\bun\s+résumé\s+de\s+(?:tous|toutes|l'ensemble|ces|les)\b|\b(?:combine|combinez|fusionne|fusionnez|"
    r"réunis|réunissez|intègre|intégrez|résume|résumez)-les\b|\b(?:résume|résumez)\s+(?:le\s+tout|l'ensemble)\b",
    r"\b(?:fasse|fass|fasst)\s+(?:sie|alle|alles|die\s+\w+)\s+(?:\w+\s+){0,5}?zusammen\b|"
    r"\bzusammenfassung\s+(?:aller|über\s+alle)\b|\b(?:kombiniere|verbinde|vereine|füge)\s+(?:sie|alle|diese)\b"
    r"[^.?!\n]{0,30}\b(?:zu|in)\s+(?:einem|einer|einen)\b",
    r"(?:объедини|объедините|обобщи|обобщите|резюмируй|резюмируйте|сведи|сведите)\s+(?:их|все|всё|эти|"
    r"результаты|ответы)|подведи(?:те)?\s+итог",
    r"(?:最后|然后|再|并)[^。！？\n]{0,12}(?:总结|汇总|归纳|概括|整合|合并|综合)|(?:把|将)(?:它们|这些|所有)[^。！？\n]{0,10}"
    r"(?:合并|整合|组合|汇总|串联)(?:成|为|在)|(?:总结|汇总|综合)(?:一下)?(?:所有|全部|这些|以上)",
    r"(?:最後に|その後|それから|そして)[^。！？\n]{0,20}(?:まとめ|要約|統合|総括)|(?:それら|これら|すべて|全て)(?:を|の)"
    r"[^。！？\n]{0,15}(?:まとめ|組み合わせ|統合|一つに)",
)
_USE_ALL = _rx(
    r"\b(?:write|create|compose|make|craft|build|produce|draft|turn|tell|design|plan|put\s+together)\s+(?:a|an|one|"
    r"the|a\s+single)\s+(?:[\w-]+\s+){0,3}?" + _ARTEFACT + r"s?\b[^.?!\n]{0,60}?\b(?:all|every\s+one|both)\b"
    r"(?:\s+of)?\s+(?:them|these|those|the|your|my|\d{1,3}|" + lang.NUMBER_WORD_PATTERN + r"|[\w-]+s)\b",
    r"\b(?:use|using|include|including|incorporate|incorporating|feature|featuring|combine|combining|weave|weaving|"
    r"mention|mentioning|bring|bringing)\s+(?:all|every\s+one|both)\s+(?:of\s+)?(?:them|these|those|the\s+[\w-]+|"
    r"[\w-]+s)\b[^.?!\n]{0,30}?(?:\b(?:in|into)\s+(?:a|an|one|the\s+same|a\s+single)\b|\btogether\b)",
    r"\b(?:escribe|crea|compón|redacta|haz)\s+(?:\w+\s+)?(?:un|una)\s+(?:\w+\s+){0,2}?(?:historia|cuento|poema|canción|párrafo|"
    r"texto|relato|diálogo|carta)\b[^.?!\n]{0,60}?\b(?:todos|todas|ambos|ambas)\b|\b(?:usa|usando|utiliza|utilizando|"
    r"incluye|incluyendo|combina|combinando)\s+(?:todos|todas|ambos|ambas)\b[^.?!\n]{0,40}?\ben\s+(?:un|una|el\s+mismo|"
    r"la\s+misma)\b",
    r"\b(?:écris|écrivez|crée|créez|compose|composez|rédige|rédigez)\s+(?:\w+\s+)?(?:un|une)\s+(?:\w+\s+){0,2}?(?:histoire|poème|"
    r"chanson|paragraphe|texte|récit|dialogue|lettre)\b[^.?!\n]{0,60}?\b(?:tous|toutes|les\s+deux)\b|"
    r"\b(?:utilise|utilisez|utilisant|inclus|incluez|incluant|combine|combinez)\s+(?:les\s+)?(?:tous|toutes)\b"
    r"[^.?!\n]{0,40}?\bdans\s+(?:un|une|le\s+même|la\s+même)\b",
    r"\b(?:schreibe|schreib|erstelle|verfasse|dichte)\s+(?:\w+\s+)?(?:eine?n?|ein)\s+(?:\w+\s+){0,2}?(?:geschichte|gedicht|lied|"
    r"absatz|text|erzählung|dialog|brief)\b[^.?!\n]{0,60}?\b(?:alle|beide)\b|\b(?:verwende|benutze|nutze)\s+"
    r"(?:alle|beide)\b[^.?!\n]{0,40}?\bin\s+(?:einem|einer|einen)\b",
    r"(?:напиши|напишите|сочини|сочините|составь|составьте|создай|создайте)\s+(?:\w+\s+){0,2}?(?:историю|рассказ|"
    r"стихотворение|песню|абзац|текст|диалог|письмо)\b[^.?!\n]{0,60}?(?:все|всех|всеми|оба|обоих)\b|"
    r"(?:используй|используйте|используя|включи|включите)\s+(?:их\s+)?(?:все|всех|оба)\b[^.?!\n]{0,40}?\bв\s+"
    r"(?:одн\w+|едином|единой)\b",
    r"(?:用|使用|把|将|结合|融合|包含)(?:所有|全部|这些|它们|上述)[^。！？\n]{0,20}(?:写|编|创作|组成|串成|编成)(?:成)?一"
    r"(?:个|篇|首|段|则|部)|(?:写|编|创作)一(?:个|篇|首|段|则)[^。！？\n]{0,20}(?:包含|用到|使用|融入)(?:所有|全部|这些|它们)",
    r"(?:すべて|全て|それら|これら)(?:を|の[^。！？\n]{0,6}を)(?:使って|用いて|含めて|入れて|組み合わせて)[^。！？\n]{0,20}"
    r"(?:物語|ストーリー|詩|歌|文章|段落)",
)
_ITEM_NOUNS = (r"(?:ideas?|items?|options?|names?|suggestions?|points?|answers?|questions?|titles?|slogans?|"
               r"versions?|drafts?|variants?|examples?|entries|entry|candidates?)")
_BY_NUMBER = _rx(
    r"\b(?:by|with|using)\s+(?:its|their|the)\s+(?:numbers?|index|indices|position|ids?)\b",
    r"\b" + _ITEM_NOUNS + r"\s*(?:#|no\.?|number)?\s*\d{1,3}\s*(?:,|and|or|&|to|-|–|through)\s*(?:#|no\.?|number)?"
    r"\s*\d{1,3}\b",
    r"\bpor\s+su\s+(?:número|índice)\b|\b(?:ideas?|opciones?|elementos?|nombres?|puntos?)\s+(?:n\.?º\s*)?\d{1,3}\s*"
    r"(?:,|y|o|a)\s*\d{1,3}\b",
    r"\bpar\s+(?:son|leur)\s+(?:numéro|indice)\b|\b(?:idées?|options?|éléments?|noms?|points?)\s+(?:n°\s*)?\d{1,3}"
    r"\s*(?:,|et|ou|à)\s*\d{1,3}\b",
    r"\b(?:mit|nach|anhand)\s+(?:seiner|ihrer|der)\s+(?:nummer|zahl)\b|\b(?:ideen?|optionen?|punkte?|namen?|"
    r"vorschl[äa]ge?)\s+(?:nr\.?\s*)?\d{1,3}\s*(?:,|und|oder|bis)\s*\d{1,3}\b",
    r"\bпо\s+(?:их\s+|его\s+)?номер(?:у|ам)\b|\bпод\s+номер(?:ом|ами)\b|(?:иде[июяй]|вариант\w*|пункт\w*)\s+(?:№\s*)?"
    r"\d{1,3}\s*(?:,|и|или|-)\s*\d{1,3}\b",
    r"(?:按|用|根据|通过)(?:编号|序号|号码)|第\s*\d{1,3}\s*(?:个|条|项)?\s*(?:和|与|、|至|到)\s*第?\s*\d{1,3}",
    r"番号で|番号を(?:使って|用いて)|\d{1,3}\s*番(?:目)?と\s*\d{1,3}\s*番",
)
_ORGANISE = _rx(
    r"\b(?:group|sort|organi[sz]e|categori[sz]e|cluster|classify|arrange|bucket|divide|split|separate)\s+" + _RESULTS
    + r"\s+(?:by|into|in|under|according\s+to|based\s+on)\b",
    r"\b(?:group|sort|organi[sz]e|cluster|arrange|divide)\w*\s+(?:[\w-]+\s+){0,3}?into\s+(?:[\w-]+\s+)?"
    r"(?:categories|groups|themes|clusters|buckets|sections|types|kinds|tiers)\b",
    r"\b(?:grouped|sorted|organi[sz]ed|categori[sz]ed|clustered)\s+(?:by|into|under)\b",
    r"\b(?:agrupa|clasifica|organiza|ordena|divide)(?:los|las)?\b[^.?!\n]{0,30}\b(?:por|en)\s+(?:categorías|grupos|"
    r"temas|tipos)\b|\b(?:agrúpalos|agrúpalas|organízalos|organízalas|clasifícalos|clasifícalas)\b",
    r"\b(?:regroupe|regroupez|classe|classez|trie|triez|organise|organisez|range|rangez)(?:-les)?\b[^.?!\n]{0,30}"
    r"\b(?:par|en)\s+(?:catégories|groupes|thèmes|types)\b|\b(?:regroupe|regroupez|organise|organisez|range|"
    r"rangez)-les\b",
    r"\b(?:gruppiere|gruppieren|ordne|ordnet|sortiere|sortieren|kategorisiere|teile)\b[^.?!\n]{0,30}\b(?:in|nach)\s+"
    r"(?:kategorien|gruppen|themen|typen|arten)\b|\b(?:gruppiere|sortiere)\s+sie\b",
    r"(?:сгруппируй|сгруппируйте|распредели|распределите|рассортируй|рассортируйте)\s+(?:их|все|эти)\b|"
    r"\bпо\s+(?:категориям|группам|темам|типам)\b",
    r"(?:把|将)?(?:它们|这些|所有)[^。！？\n]{0,8}(?:分组|分类|归类|分成|归为)|按(?:主题|类别|类型|种类)(?:分组|分类|归类|整理)",
    r"(?:グループ|カテゴリ|カテゴリー)(?:に|ごとに)(?:分け|分類|整理|まとめ)|(?:それら|これら|すべて)を[^。！？\n]{0,10}"
    r"(?:分類|グループ分け|整理)",
)
_FINAL_STEPS = (_AGGREGATE, _SUMMARY, _USE_ALL, _BY_NUMBER, _ORGANISE)


def final_step(text: str) -> re.Match[str] | None:
    """The earliest phrase of ``text`` asking for a step over all results, whichever family it belongs to."""
    found = [m for pattern in _FINAL_STEPS if (m := pattern.search(text))]
    return min(found, key=lambda m: m.start(), default=None)


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
    if m := final_step(text):
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
