"""Language detection and the multilingual lexicon the rules read.

Detection is by script first (Han, kana, Hangul, Cyrillic, Arabic...), then,
for Latin script, by counting common function words. The lexicon holds, per
language, the words the extractor's patterns are built from: number words,
verbs that ask for several new things, verbs that process given items, "for
each" markers and words that introduce a list. Only general language is
here, never phrases taken from a particular prompt.
"""

from __future__ import annotations

import re
from collections import Counter

SUPPORTED = ("en", "zh", "ja", "es", "fr", "de", "ru", "pt", "it")

_STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset("the and of to is in that for with you are this what how be it on as from an about "
                    "i me my your please can write give".split()),
    "es": frozenset("el la los las de que y en un una por para con es del se qué cómo al".split()),
    "fr": frozenset("le la les des de du et en un une est pour que qui dans avec sur au aux".split()),
    "de": frozenset("der die das und ist nicht ein eine zu mit für den dem von auf des sie".split()),
    "pt": frozenset("o a os as de que e em um uma para com não do da dos das é".split()),
    "it": frozenset("il lo la gli le di che e è un una per con del della non sono".split()),
}

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def _script_counts(text: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for ch in text:
        code = ord(ch)
        if 0x3040 <= code <= 0x30FF:
            counts["kana"] += 1
        elif 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF:
            counts["han"] += 1
        elif 0xAC00 <= code <= 0xD7AF:
            counts["hangul"] += 1
        elif 0x0400 <= code <= 0x04FF:
            counts["cyrillic"] += 1
        elif 0x0600 <= code <= 0x06FF:
            counts["arabic"] += 1
        elif ch.isalpha():
            counts["latin"] += 1
    return counts


def detect_language(text: str) -> str:
    """ISO 639-1 code of the dominant language of ``text``; 'und' when unclear."""
    counts = _script_counts(text)
    if not counts:
        return "und"
    if counts["kana"] >= 2:
        return "ja"
    script, amount = counts.most_common(1)[0]
    if script != "latin" or amount < 3 * max(counts["han"] + counts["kana"], 1):
        if counts["han"] >= 2:
            return "zh"
        if counts["hangul"]:
            return "ko"
        if counts["cyrillic"]:
            return "ru"
        if counts["arabic"]:
            return "ar"
    return _latin_language(text)


def _latin_language(text: str) -> str:
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return "und"
    scores = {lang: sum(w in stop for w in words) for lang, stop in _STOPWORDS.items()}
    best = max(scores, key=scores.__getitem__)
    return best if scores[best] > 0 else "en"


def is_cjk(language: str) -> bool:
    """Languages written without spaces between words."""
    return language in ("zh", "ja")


# --- numbers -------------------------------------------------------------

NUMBER_WORDS: dict[str, int] = {
    # en
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "fifty": 50,
    "a couple of": 2, "a dozen": 12, "dozen": 12,
    # es
    "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7, "ocho": 8, "nueve": 9, "diez": 10,
    "doce": 12, "quince": 15, "veinte": 20,
    # pt (the Italian ones that are also English or Portuguese words are left out)
    "dois": 2, "duas": 2, "três": 3, "quatro": 4, "sete": 7, "oito": 8, "dez": 10, "vinte": 20,
    "quattro": 4, "cinque": 5, "sette": 7, "dieci": 10, "venti": 20,
    # fr
    "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "sept": 7, "huit": 8, "neuf": 9, "dix": 10,
    "douze": 12, "quinze": 15, "vingt": 20,
    # de
    "zwei": 2, "drei": 3, "vier": 4, "fünf": 5, "sechs": 6, "sieben": 7, "acht": 8, "neun": 9, "zehn": 10,
    "zwölf": 12, "fünfzehn": 15, "zwanzig": 20,
    # ru (nominative and accusative forms)
    "два": 2, "две": 2, "три": 3, "четыре": 4, "пять": 5, "шесть": 6, "семь": 7, "восемь": 8,
    "девять": 9, "десять": 10, "двенадцать": 12, "пятнадцать": 15, "двадцать": 20,
}

_CJK_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
               "八": 8, "九": 9}
_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


def cjk_number(text: str) -> int | None:
    """Value of a Chinese/Japanese numeral up to 99 (三, 十二, 二十), or None."""
    if not text or any(ch not in _CJK_DIGITS and ch != "十" for ch in text):
        return None
    if "十" not in text:
        return _CJK_DIGITS[text] if len(text) == 1 else None
    tens, _, ones = text.partition("十")
    high = _CJK_DIGITS.get(tens, 0) if tens else 1
    low = _CJK_DIGITS.get(ones, 0) if ones else 0
    return high * 10 + low


def parse_number(token: str) -> int | None:
    """Value of a count token: digits (also full-width), a range's upper end, a number word or a CJK numeral."""
    token = token.strip().lower().translate(_FULLWIDTH).removesuffix("+")  # "10+ ideas": at least ten
    if re.fullmatch(r"\d{1,4}", token):
        return int(token)
    if m := re.fullmatch(r"\d{1,3}\s*(?:-|–|to|~|〜|～)\s*(\d{1,3})", token):
        return int(m.group(1))
    if token in NUMBER_WORDS:
        return NUMBER_WORDS[token]
    return cjk_number(token)


NUMBER_WORD_PATTERN = "|".join(sorted((re.escape(w) for w in NUMBER_WORDS), key=len, reverse=True))
CJK_NUMERAL = r"[0-9０-９]{1,3}|[一二两兩三四五六七八九十]{1,3}"

# --- verbs and markers ---------------------------------------------------

# Verbs asking for several NEW things: "generate 10 ...", "give me five ...".
CREATE_VERBS = {
    "en": r"generate|write|give|list|create|make|suggest|propose|provide|come\s+up\s+with|brainstorm|produce|"
          r"compose|draft|name|design|invent|think\s+of|prepare|craft|compile|recommend|offer|formulate|"
          r"devise|share|pose|ask|tell|outline",
    "es": r"genera|generar|escribe|escribir|escriba|dame|denme|crea|crear|cree|sugiere|sugerir|propón|proponer|"
          r"proporciona|lista|enumera|inventa|redacta|redactar|da|dime|haz|menciona|recomienda|piensa",
    "fr": r"donne-moi|donnez-moi|propose-moi|proposez-moi|écris-moi|écrivez-moi|trouve-moi|trouvez-moi|génère|générer|générez|écris|écrire|écrivez|donne|donnez|donner|crée|créer|créez|propose|proposez|"
          r"proposer|suggère|suggérez|liste|listez|rédige|rédigez|invente|inventez|trouve|trouvez|fournis|"
          r"fournissez|cite|citez|imagine|imaginez",
    "pt": r"gere|gerar|escreva|escrever|crie|criar|dê-me|me\s+dê|liste|sugira|proponha|faça|invente|elabore",
    "it": r"genera|generare|scrivi|scrivere|crea|creare|dammi|elenca|suggerisci|proponi|inventa|fornisci",
    "de": r"generiere|generieren|erstelle|erstellen|schreibe|schreib|schreiben|gib|geben|nenne|nennen|liste|"
          r"erzeuge|schlage|entwirf|formuliere|erfinde|finde|denk|überlege|mache|mach",
    "ru": r"сгенерируй|сгенерировать|сгенерируйте|придумай|придумайте|придумать|напиши|напишите|написать|"
          r"дай|дайте|составь|составьте|создай|создайте|перечисли|перечислите|предложи|предложите|приведи|"
          r"приведите|назови|назовите|сформулируй|сделай",
    "zh": r"生成|写|寫|给我|給我|列出|列举|列舉|提供|想|创作|創作|编|起|设计|設計|推荐|推薦|提出|举|舉|造|给出|給出|出|拟|擬|制作|製作",
    "ja": r"生成|作成|書いて|書く|考えて|考え|挙げて|あげて|提案|作って|作る|教えて|出して|リストアップ|示して",
}

# Chinese / Japanese counters after a numeral.
ZH_COUNTERS = r"个|個|条|條|句|首|篇|种|種|道|份|段|则|則|款|组|組|项|項|点|點|名|位|张|張|本|封|套|幅|题|題|问|問"
JA_COUNTERS = r"個|つ|件|本|文|案|種類|種|問|通|枚|名|人|点|行|パターン|コ"

# "for each" markers.
FOR_EACH = (
    r"\bfor\s+(?:each|every)\b|\beach\s+of\s+(?:the|these|those)\b|\bpara\s+cada\b|\bpour\s+(?:chaque|chacun)|"
    r"\bpara\s+cada\b|\bper\s+ogni\b|\bfür\s+jede[nmrs]?\b|\bjede[nmrs]?\s+der\b|\bдля\s+каждо\w*|\bкаждо\w*\s+из\b|对每|對每|每个|每個|分别|分別|"
    r"それぞれ|各々|各\S{0,4}について"
)

# Words saying "the following/these" items come next.
LIST_INTRO = (
    r"\b(?:following|below|these|those|listed|given|next)\b|\bsiguientes?\b|\bestas\b|\bestos\b|"
    r"\bsuivante?s?\b|\bces\b|\bci-dessous\b|\bfolgenden?\b|\bdiese[nr]?\b|\bunten\b|\bследующ\w*|\bэти\w*|"
    r"\bниже\b|以下|下列|下面|如下|这些|這些|次の|下記|これら"
)

QUESTION_MARKS = "?？"
FIELD_WORDS = (r"\b(?:keys|fields|columns|attributes|properties|headers|claves|campos|columnas|atributos|champs|"
               r"clés|colonnes|attributs|felder|schlüssel|spalten|attribute|поля|ключи|столбцы|атрибуты)|"
               r"字段|键|欄位|フィールド|キー|項目")
QUESTION_WORDS = r"\bquestions?\b|\bpreguntas?\b|\bfragen?\b|\bвопрос\w*|\bdomande?\b|\bperguntas?\b|问题|問題|質問"

# --- exam layout ---------------------------------------------------------------

# A section heading line of a question set ("Part B: Geometry", "Раздел 2", "二、简答题", "## Reading").
SECTION_HEADING = (
    r"^[ \t]*(?:#{1,6}[ \t]+\S.*|\*\*[^*\n]{2,80}\*\*:?[ \t]*|"
    r"(?:part|section|chapter|unit|exercise|block|round|parte|sección|seccion|ejercicio|capítulo|partie|"
    r"chapitre|exercice|teil|abschnitt|kapitel|übung|aufgabenblock|sezione|capitolo|esercizio|seção|secção|"
    r"capítulo|exercício|раздел|часть|глава|блок|упражнение)(?:[ \t]+(?:[0-9]{1,2}|[IVXivx]{1,4}|[A-Ha-h])\b[ \t]*[.:：)\-–]?|[ \t]*[:：])"
    r"(?:[ \t]*[^?？\n]{1,60})?|"
    r"(?:第[一二三四五六七八九十0-9]{1,3}(?:部分|节|節|章|大题|大題|部)|[一二三四五六七八九十]{1,3}[、．.])"
    r"[ \t]*[^?？\n]{0,30})[ \t]*$"
)

# Points a question is worth, in parentheses or brackets: "(5 points)", "[10 Punkte]", "（10分）".
POINTS = (
    r"[(（\[【][ \t]*\d{1,3}(?:[.,]\d)?[ \t]*(?:points?|pts?\.?|marks?|puntos?|punti|pontos?|Punkte?|Pkt\.?|"
    r"балл(?:а|ов)?|б\.|分|点|點|配点)[ \t]*[)）\]】]"
)
POINT_WORDS = frozenset("point points pt pts marks mark puntos punto punti pontos ponto punkte punkt pkt "
                        "балл балла баллов".split())

# --- what a request can be asked in: target languages and output formats ----------

# Names of languages, written in the supported languages (a set of them after "into" is a set of subtasks).
LANGUAGE_NAMES = (
    r"english|french|german|spanish|italian|portuguese|russian|chinese|mandarin|cantonese|japanese|korean|"
    r"arabic|hindi|dutch|swedish|norwegian|danish|finnish|polish|czech|greek|turkish|hebrew|vietnamese|thai|"
    r"indonesian|ukrainian|romanian|hungarian|bengali|persian|swahili|latin|"
    r"inglés|ingles|francés|frances|alemán|aleman|español|espanol|italiano|portugués|portugues|ruso|chino|"
    r"japonés|japones|coreano|árabe|arabe|neerlandés|holandés|griego|turco|polaco|"
    r"anglais|français|francais|allemand|espagnol|italien|portugais|russe|chinois|japonais|coréen|arabe|"
    r"néerlandais|grec|turc|polonais|"
    r"englisch(?:e|en)?|französisch(?:e|en)?|deutsch(?:e|en)?|spanisch(?:e|en)?|italienisch(?:e|en)?|"
    r"portugiesisch(?:e|en)?|russisch(?:e|en)?|chinesisch(?:e|en)?|japanisch(?:e|en)?|koreanisch(?:e|en)?|"
    r"arabisch(?:e|en)?|niederländisch(?:e|en)?|türkisch(?:e|en)?|polnisch(?:e|en)?|griechisch(?:e|en)?|"
    r"inglese|francese|tedesco|spagnolo|portoghese|cinese|giapponese|"
    r"inglês|francês|alemão|espanhol|japonês|"
    r"английск\w*|французск\w*|немецк\w*|испанск\w*|итальянск\w*|португальск\w*|русск\w*|китайск\w*|"
    r"японск\w*|корейск\w*|арабск\w*|"
    r"英语|英語|英文|法语|法語|法文|德语|德語|德文|西班牙语|西班牙語|意大利语|義大利語|葡萄牙语|葡萄牙語|俄语|俄語|"
    r"中文|汉语|漢語|日语|日語|日文|韩语|韓語|韩文|阿拉伯语|"
    r"フランス語|ドイツ語|スペイン語|イタリア語|ポルトガル語|ロシア語|中国語|日本語|韓国語|アラビア語"
)
FORMAT_NAMES = (
    r"json|yaml|yml|xml|csv|tsv|html|markdown|latex|toml|sql|ini|plain\s+text|rst|asciidoc|protobuf|"
    r"bullet\s+points|a\s+table|a\s+bulleted\s+list|a\s+numbered\s+list"
)
# Verbs that turn one text into another language or format.
CONVERT_VERBS = (
    r"translate|translated|translation|convert|rewrite|render|express|say|write|output|export|format|give|"
    r"return|provide|traduce|traducir|traduzca|tradúcelo|convierte|escribe|traduis|traduisez|traduire|"
    r"convertis|convertissez|écris|écrivez|übersetze|übersetzen|übersetzt|konvertiere|wandle|schreibe|"
    r"traduci|tradurre|traduza|traduzir|переведи|переведите|перевести|конвертируй|преобразуй|напиши|"
    r"翻译|翻譯|译成|譯成|转换|轉換|转成|写成|寫成|翻訳|訳して|変換"
)
