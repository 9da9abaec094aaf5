"""Rule-based finders: each scans a prompt for one family of parallel structure.

A finder returns :class:`Found` candidates (items or a count, the span of the
prompt they occupy, a strength); :mod:`graphs.compiler.extract` picks one
and builds the schema around it. Finders are pure functions of the text and
built only from general language patterns (see :mod:`graphs.compiler.lang`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from graphs.compiler import lang

_MAX_ITEM_LINE = 400


@dataclass(frozen=True)
class Found:
    """One candidate structure inside a prompt."""

    pattern: str
    start: int
    end: int
    items: tuple[str, ...] = ()
    n: int | None = None
    strength: int = 0
    intro: str = ""
    numbered: bool = False

    @property
    def count(self) -> int:
        return self.n if self.n is not None else len(self.items)


@dataclass(frozen=True)
class Line:
    start: int
    end: int
    text: str

    @property
    def blank(self) -> bool:
        return not self.text.strip()


def split_lines(text: str) -> list[Line]:
    """Lines with their offsets (end excludes the newline)."""
    lines, pos = [], 0
    for raw in text.split("\n"):
        lines.append(Line(pos, pos + len(raw), raw))
        pos += len(raw) + 1
    return lines


def clean_item(text: str) -> str:
    """An item without surrounding whitespace, quotes, or a trailing list separator."""
    text = text.strip().strip(",;、，；").strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'`“”‘’«»":
        text = text[1:-1].strip()
    pairs = {"“": "”", "‘": "’", "«": "»", "「": "」", "『": "』"}
    if len(text) >= 2 and pairs.get(text[0]) == text[-1]:
        text = text[1:-1].strip()
    return text


# --- numbered lists ------------------------------------------------------

_NUM_MARK = re.compile(
    r"^[ \t]*(?:"
    r"(?:(?P<label>Q|[A-Z][a-z]{1,15}|[А-Я][а-я]{1,15})\s*#?)?(?P<d>\d{1,3}|[０-９]{1,2})"
    r"(?:[ \t]*" + lang.POINTS + r")?"  # "Question 2 (5 points): ..."
    r"\s*(?:[.)\]:：、．]|\s[-–](?=\s)|-(?=\s)|/(?=\s|[^\W\d_]))"
    r"|[(（\[](?P<p>\d{1,3})[)）\]]"
    r"|(?P<l>[a-h])[.)](?=\s)"
    r"|[(（](?P<pl>[a-h])[)）]"
    r"|(?:第)?(?P<c>[一二三四五六七八九十]{1,3})(?:题|題|問)?[、.．)）:：]"
    r"|(?:问题|問題|質問|问|問)\s*(?P<q>\d{1,3})\s*[.:：、)]?"
    r")[ \t]*(?P<text>\S.*)$",
    re.IGNORECASE,
)


def _marker_value(m: re.Match[str]) -> int | None:
    for key in ("d", "p", "q"):
        if m.group(key):
            return int(m.group(key).translate(str.maketrans("０１２３４５６７８９", "0123456789")))
    for key in ("l", "pl"):
        if m.group(key):
            return ord(m.group(key).lower()) - ord("a") + 1
    if m.group("c"):
        return lang.cjk_number(m.group("c"))
    return None


def _marker_kind(m: re.Match[str]) -> str:
    kind = next(k for k in ("d", "p", "l", "pl", "c", "q") if m.group(k))
    return f"{kind}:{m.group('label').lower()}" if kind == "d" and m.group("label") else kind


def _split_merged(lines: list[Line]) -> list[Line]:
    """'1/ first? 2/ second?' on one line becomes two lines (same offsets into the prompt)."""
    out: list[Line] = []
    for line in lines:
        m = _NUM_MARK.match(line.text)
        value = _marker_value(m) if m and m.group("d") else None
        while value is not None:
            nxt = re.search(r"\s(" + str(value + 1) + r")\s*[.)/]\s*(?=[^\W\d_])", line.text[m.end("d"):])
            if not nxt:
                break
            cut = m.end("d") + nxt.start() + 1
            out.append(Line(line.start, line.start + cut - 1, line.text[: cut - 1]))
            line = Line(line.start + cut, line.end, line.text[cut:])
            m, value = _NUM_MARK.match(line.text), value + 1
            if not m:
                break
        out.append(line)
    return out


_HEADING = re.compile(lang.SECTION_HEADING, re.IGNORECASE)
_LETTER_KINDS = ("l", "pl")


def is_heading(text: str) -> bool:
    """A section heading of a question set ('Part B: Geometry', '二、简答题'), not a question or an item."""
    return bool(_HEADING.match(text)) and not is_question(text)


def numbered_lists(text: str, lines: list[Line]) -> list[Found]:
    """Runs of lines numbered 1, 2, 3... (or a, b, c / 一, 二, 三), one item per number.

    A question set cut into headed sections whose numbering restarts ('Part A' 1, 2; 'Part B' 1, 2) is one
    list; a run whose numbered lines are themselves headings ranks below the questions under them.
    """
    lines = _split_merged(lines)
    marks = []
    for i, line in enumerate(lines):
        m = _NUM_MARK.match(line.text)
        if m and (value := _marker_value(m)) is not None:
            marks.append((i, value, _marker_kind(m), m))
    runs, used = [], set()
    for start_pos, (i, value, kind, _m) in enumerate(marks):
        if i in used or value not in (0, 1):
            continue
        run = [marks[start_pos]]
        for j, v, k, m in marks[start_pos + 1:]:
            if k == kind and v == run[-1][1] + 1 and j - run[-1][0] <= 8:
                run.append((j, v, k, m))
        if len(run) >= 2 or (runs and _continues_section(lines, runs[-1], run)):
            used.update(r[0] for r in run)
            runs.append(run)
    return [_numbered_found(text, lines, run) for run in _merge_sections(lines, runs)]


def _heading_before(lines: list[Line], index: int) -> int | None:
    """Index of the heading line right above line ``index`` (blank lines aside), if there is one."""
    for k in range(index - 1, -1, -1):
        if not lines[k].blank:
            return k if is_heading(lines[k].text) else None
    return None


def _continues_section(lines: list[Line], before: list, run: list) -> bool:
    """``run`` restarts the numbering of ``before`` (same marker kind) under a new section heading."""
    return run[0][2] == before[0][2] and run[0][0] > before[-1][0] and \
        _heading_before(lines, run[0][0]) is not None and _heading_before(lines, before[0][0]) is not None


def _merge_sections(lines: list[Line], runs: list[list]) -> list[list]:
    merged: list[list] = []
    for run in runs:
        if merged and _continues_section(lines, merged[-1], run):
            merged[-1] = merged[-1] + run
        elif len(run) >= 2:
            merged.append(run)
    return merged


def _ends_item(line: Line, kind: str) -> bool:
    """A line that can not continue a numbered item: a heading, or another list's marker (sub-parts a., b. do)."""
    if is_heading(line.text) and not line.text[:1].isspace():
        return True
    m = _NUM_MARK.match(line.text)
    if not m or _marker_value(m) is None:
        return False
    other = _marker_kind(m)
    return other != kind and not (other in _LETTER_KINDS and kind not in _LETTER_KINDS)


def _numbered_found(text: str, lines: list[Line], run: list) -> Found:
    items = []
    for pos, (i, _v, kind, m) in enumerate(run):
        stop = run[pos + 1][0] if pos + 1 < len(run) else len(lines)
        parts = [m.group("text")]
        for line in lines[i + 1: stop]:
            if line.blank or (pos + 1 == len(run) and not line.text[:1].isspace()) or _ends_item(line, kind):
                break
            parts.append(line.text.strip())
        items.append(clean_item(" ".join(parts)))
    first, last = lines[run[0][0]], lines[run[-1][0]]
    end = last.end
    for line in lines[run[-1][0] + 1:]:
        if line.blank or not line.text[:1].isspace():
            break
        end = line.end
    heading = _heading_before(lines, run[0][0])
    intro = _intro_before(lines, run[0][0] if heading is None else heading)
    strength = 2 if all(is_heading(lines[i].text) for i, *_ in run) else 5
    return Found("numbered", first.start, end, tuple(items), strength=strength, intro=intro, numbered=True)


def _intro_before(lines: list[Line], index: int) -> str:
    for line in reversed(lines[:index]):
        if not line.blank:
            return line.text.strip()
    return ""


_INLINE_MARK = re.compile(r"(?:(?<=\s)|^)\(?(\d{1,2})[.)/]\s+(?=\S)")


def inline_numbered(text: str, lines: list[Line]) -> list[Found]:
    """'... : 1. first 2. second 3. third' inside one line."""
    found = []
    for line in lines:
        marks = [m for m in _INLINE_MARK.finditer(line.text)]
        run: list[re.Match[str]] = []
        for m in marks:
            value = int(m.group(1))
            if not run and value == 1:
                run = [m]
            elif run and value == int(run[-1].group(1)) + 1:
                run.append(m)
        if len(run) < 2 or _NUM_MARK.match(line.text):
            continue
        head = line.text[: run[0].start()].rstrip()
        if head and head[-1] not in ":：?？.!。":
            continue
        bounds = [m.start() for m in run] + [len(line.text)]
        items = [clean_item(line.text[run[k].end(): bounds[k + 1]]) for k in range(len(run))]
        found.append(Found("inline-numbered", line.start + run[0].start(), line.end, tuple(items),
                           strength=4, intro=head, numbered=True))
    return found


# --- bullets --------------------------------------------------------------

_BULLET = re.compile(r"^(?P<indent>[ \t]*)(?P<mark>[-*•·–—▪●◦►✓+☐☑☒□■❑]|\[[ xX✓]?\])"
                     r"(?:[ \t]*\[[ xX✓]?\](?=[ \t]))?[ \t]+(?P<text>\S.*)$")


def bulleted_lists(text: str, lines: list[Line]) -> list[Found]:
    """Runs of lines starting with the same bullet at the same indent."""
    found, i = [], 0
    while i < len(lines):
        m = _BULLET.match(lines[i].text)
        if not m:
            i += 1
            continue
        indent, mark = m.group("indent"), m.group("mark")
        items, j, last = [m.group("text")], i + 1, i
        while j < len(lines):
            line = lines[j]
            mm = _BULLET.match(line.text)
            if mm and mm.group("indent") == indent and mm.group("mark") == mark:
                items.append(mm.group("text"))
                last = j
            elif line.blank and j + 1 < len(lines) and _same_bullet(lines[j + 1].text, indent, mark):
                pass
            elif not line.blank and len(line.text) - len(line.text.lstrip()) > len(indent):
                items[-1] += " " + line.text.strip()
                last = j
            else:
                break
            j += 1
        if len(items) >= 2:
            found.append(Found("bulleted", lines[i].start, lines[last].end, tuple(clean_item(t) for t in items),
                               strength=4, intro=_intro_before(lines, i)))
        i = max(j, i + 1)
    return found


def _same_bullet(text: str, indent: str, mark: str) -> bool:
    m = _BULLET.match(text)
    return bool(m and m.group("indent") == indent and m.group("mark") == mark)


# --- line-separated items -----------------------------------------------

def is_question(text: str) -> bool:
    """The text ends with a question mark (ASCII or full-width), quotes aside."""
    return text.rstrip().rstrip("\"'”)）").endswith(tuple(lang.QUESTION_MARKS))


def line_lists(text: str, lines: list[Line]) -> list[Found]:
    """Items one per line: after an intro ending with ':' or a run of question lines."""
    found, i = [], 0
    while i < len(lines):
        if lines[i].blank or _NUM_MARK.match(lines[i].text) or _BULLET.match(lines[i].text):
            i += 1
            continue
        run, j = _line_run(lines, i)
        if len(run) >= 2:
            candidate = _line_candidate(lines, run)
            if candidate:
                found.append(candidate)
        i = max(j, i + 1)
    return found


def _line_run(lines: list[Line], i: int) -> tuple[list[int], int]:
    """Consecutive short lines; single blank lines are allowed between one-line paragraphs."""
    run, j = [], i
    while j < len(lines):
        line = lines[j]
        if line.blank:
            nxt = j + 1
            if nxt < len(lines) and not lines[nxt].blank and _is_short(lines[nxt].text) and run \
                    and _single_line_paragraphs(lines, run, nxt):
                j += 1
                continue
            break
        if not _is_short(line.text) or _NUM_MARK.match(line.text) or _BULLET.match(line.text):
            break
        run.append(j)
        j += 1
    return run, j


def _is_short(text: str) -> bool:
    return 0 < len(text.strip()) <= _MAX_ITEM_LINE


def _single_line_paragraphs(lines: list[Line], run: list[int], nxt: int) -> bool:
    after = lines[nxt + 1] if nxt + 1 < len(lines) else None
    return (after is None or after.blank) and (run[-1] == 0 or lines[run[-1] - 1].blank or len(run) == 1)


def _line_candidate(lines: list[Line], run: list[int]) -> Found | None:
    texts = [lines[k].text.strip() for k in run]
    intro = _intro_before(lines, run[0])
    heads = [j for j, t in enumerate(texts[:-2]) if t.endswith((":", "："))]
    if heads:  # "Questions:" inside the block: the items start after the last such heading
        j = heads[-1]
        intro, run, texts = texts[j], run[j + 1:], texts[j + 1:]
    elif len(run) >= 3 and texts[0].endswith((".", "。", "?", "？")) and \
            not any(is_question(t) for t in texts[1:]) and \
            re.search(lang.LIST_INTRO + "|" + lang.FOR_EACH, texts[0], re.IGNORECASE):
        intro, run, texts = texts[0], run[1:], texts[1:]
    questions = sum(is_question(t) for t in texts)
    has_intro = intro.endswith((":", "：")) or bool(re.search(lang.LIST_INTRO, intro[-120:], re.IGNORECASE))
    if questions >= 2 and questions >= 0.6 * len(texts):
        strength = 4
    elif has_intro and all(len(t) <= 300 for t in texts):
        strength = 3
    else:
        return None
    if any(":" in t[:40] and not is_question(t) for t in texts) and questions < len(texts) / 2:
        return None  # "key: value" records are context, not items
    return Found("lines", lines[run[0]].start, lines[run[-1]].end, tuple(clean_item(t) for t in texts),
                 strength=strength, intro=intro)


_EACH_OF_THESE = re.compile(
    r"\beach\s+of\s+(?:the\s+following|these|those)\b|\bfor\s+(?:each|every)\s+(?:of\s+the\s+following\s+)?\w+\s+"
    r"(?:below|that\s+follows?)\b|" + lang.FOR_EACH,
    re.IGNORECASE,
)


def paragraph_lists(text: str, lines: list[Line]) -> list[Found]:
    """'Summarize each of the following articles:' then blank-line-separated paragraphs, one item each."""
    first = next((i for i, line in enumerate(lines) if not line.blank), None)
    if first is None or not _EACH_OF_THESE.search(lines[first].text):
        return []
    paragraphs: list[list[Line]] = []
    for line in lines[first + 1:]:
        if line.blank:
            if paragraphs and paragraphs[-1]:
                paragraphs.append([])
            continue
        if not paragraphs:
            paragraphs.append([])
        paragraphs[-1].append(line)
    paragraphs = [p for p in paragraphs if p]
    if len(paragraphs) < 2 or any(sum(len(x.text) for x in p) > 4000 for p in paragraphs):
        return []
    items = tuple(clean_item(" ".join(x.text.strip() for x in p)) for p in paragraphs)
    return [Found("paragraphs", paragraphs[0][0].start, paragraphs[-1][-1].end, items, strength=4,
                  intro=lines[first].text.strip())]
