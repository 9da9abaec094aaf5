"""compile_prompt: a prompt's schema and dependencies turned into a task graph.

Parallel shape: one generate node per subtask (``item-1`` ... ``item-N``),
each sharing the context, joined by the scope ``answers`` whose format
matches the serial answer (a numbered list for n items, one line per rated
sentence, "label: value" lines for extracted fields; the prompt's own item
format when it shows one, see :mod:`graphs.compiler.shape`), then a final
node when the prompt asks for a last step over all results. Each branch's
``max_tokens`` comes from the item's expected length
(:mod:`graphs.compiler.budget`), and constraints the prompt states once for
all items are repeated to every branch. Serial shapes: one node
holding the whole prompt (validation failed or the fan-out cap is exceeded),
or a chain ``item-k`` -> ``item-k+1`` when subtasks depend on each other.

Invariant: every piece of user text (items, context, template text) enters
the graph through :func:`graphs.escape`, so no text inside a prompt can add a
placeholder, an edge or a node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from graphs import Graph, escape, render
from graphs.compiler.budget import FINAL_EXTRA, Budget, item_budget, length_note
from graphs.compiler.depend import Dependency, DependencyKind, detect, is_serial
from graphs.compiler.extract import extract_rules
from graphs.compiler.schema import Category, Schema
from graphs.compiler.shape import ItemFormat, detect_format, shared_constraints
from graphs.compiler.validate import validate

_PLACEHOLDER = re.compile(r"\{(data|context|n)\}")
_LABELED = (Category.KEYWORD_EXTRACTION.value, Category.NAMED_ENTITY_RECOGNITION.value)


class CompileOptions(BaseModel):
    """Knobs of the prompt compiler."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_fanout: int = Field(64, ge=1, le=4096, description="Most subtasks run in parallel; beyond it, serial.")
    item_max_tokens: int = Field(512, ge=1, description="max_tokens of each subtask's generation.")
    final_max_tokens: int = Field(1024, ge=1, description="max_tokens of the final (aggregate) step.")
    serial_max_tokens: int = Field(2048, ge=1, description="max_tokens of the single node of a serial graph.")
    repeat_temperature: float = Field(
        0.8, ge=0.0, le=5.0, description="Temperature of repeated generations (each branch gets its own seed)."
    )
    force_parallel: bool = Field(
        False, description="Run subtasks in parallel even when a dependency makes it unsafe (strategy 'parallel')."
    )
    budget_items: bool = Field(
        True, description="Cap each subtask's max_tokens from the item's expected length (a title, a line, a "
        "paragraph; see graphs.compiler.budget), never above item_max_tokens."
    )


@dataclass(frozen=True)
class Compiled:
    """A compiled prompt: its schema, the dependencies found, the graph and why it has that shape."""

    prompt: str
    schema: Schema
    dependencies: tuple[Dependency, ...]
    graph: Graph
    parallel: bool
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """The JSON object `forkjoin compile --json` prints (ParallelPrompt's names)."""
        s = self.schema
        return {
            "parallelizable": self.parallel,
            "category": s.category or None,
            "language": s.language,
            "template": s.template or None,
            "context": s.context or None,
            "data": s.data,
            "n": s.n,
            "validation_tier": s.validation_tier.value,
            "reasons": list(self.reasons),
            "dependencies": [d.model_dump(mode="json") for d in self.dependencies],
            "graph": graph_dict(self.graph),
        }


def graph_dict(graph: Graph) -> dict[str, Any]:
    """Nodes (as their specs) and edges (dependency, dependent) of a graph, as plain data."""
    return {
        "nodes": [node.model_dump(mode="json") for node in graph.nodes()],
        "edges": [list(edge) for edge in graph.edges()],
    }


def compile_prompt(prompt: str, *, options: CompileOptions | None = None, schema: Schema | None = None) -> Compiled:
    """Compile ``prompt`` (with the rule-based schema unless ``schema`` is given) into a graph."""
    options = options or CompileOptions()
    schema = schema if schema is not None else validate(extract_rules(prompt))
    if not schema.passes:
        return _serial(prompt, schema, (), options, schema.reasons)
    dependencies = detect(schema)
    if schema.count > options.max_fanout:
        why = (f"fan-out {schema.count} exceeds the cap of {options.max_fanout} subtasks; compiled serially "
               f"(raise max_fanout to run them in parallel)")
        return _serial(prompt, schema, dependencies, options, (*schema.reasons, why))
    if is_serial(dependencies) and not options.force_parallel:
        why = tuple(f"serial: {d.reason}" for d in dependencies if d.serial)
        graph = _chain_graph(schema, options)
        return Compiled(prompt, schema, dependencies, graph.validate(), False, (*schema.reasons, *why))
    graph = _parallel_graph(prompt, schema, dependencies, options)
    notes = tuple(("forced parallel despite: " if d.serial else "") + d.reason for d in dependencies)
    return Compiled(prompt, schema, dependencies, graph.validate(), True, (*schema.reasons, *notes))


def serial_graph(prompt: str, options: CompileOptions | None = None) -> Graph:
    """The one-node graph that sends ``prompt`` as it is."""
    options = options or CompileOptions()
    g = Graph()
    g.generate(escape(prompt), name="answer", max_tokens=options.serial_max_tokens)
    return g.validate()


def _serial(prompt: str, schema: Schema, deps: tuple[Dependency, ...], options: CompileOptions,
            reasons: tuple[str, ...]) -> Compiled:
    return Compiled(prompt, schema, deps, serial_graph(prompt, options), False, reasons)


def render_item(schema: Schema, index: int) -> str:
    """The plain text of subtask ``index`` (1-based): the template with its placeholders filled once."""
    def fill(match: re.Match[str]) -> str:
        match match.group(1):
            case "data":
                return (schema.data or [""])[index - 1]
            case "context":
                return schema.context
            case _:
                return str(schema.n)

    template = schema.template
    if schema.n is not None and schema.language == "en":
        template = singular_count(template)
    text = _PLACEHOLDER.sub(fill, template)
    if schema.n is not None:
        text += _slot_note(index, schema.n, schema.language)
    return text


_COUNTED = re.compile(r"\{n\}((?:[ \t]+[A-Za-z][A-Za-z'-]*){1,4})")
_STOP_WORDS = frozenset("of for about to that which with in on from by and or as".split())


def singular_count(template: str) -> str:
    """English: ``{n} short tips`` becomes ``one short tip``, so each branch asks for one item.

    The first plural-looking word within four words after ``{n}`` (and before
    a preposition or conjunction) is singularized; a template without one is
    left as it is and the branch keeps the count, with its slot note.
    """
    match = _COUNTED.search(template)
    if not match:
        return template
    words = match.group(1).split()
    for i, word in enumerate(words):
        if word.lower() in _STOP_WORDS:
            break
        single = _singular(word)
        if single != word:
            phrase = " ".join([*words[:i], single, *words[i + 1:]])
            return template[: match.start()] + "one " + phrase + template[match.end():]
    return template


def _singular(word: str) -> str:
    lower = word.lower()
    if len(lower) < 4 or not lower.endswith("s") or lower.endswith(("ss", "us", "is", "'s")):
        return word
    if lower.endswith("ies"):
        return word[:-3] + "y"
    if lower.endswith(("ches", "shes", "xes", "zes", "sses")):
        return word[:-2]
    return word[:-1]


_SLOT_NOTES = {
    "zh": "\n\n（你只写第{k}项，共{n}项；其余{rest}项由别人分别撰写。只给出这一项，不要编号或开场白，并且与其他项明显不同："
          "采用你会用的第{k}种思路或角度。）",
    "ja": "\n\n（あなたが書くのは{n}件中の{k}件目だけです。残りの{rest}件は別々に書かれます。番号や前置きなしでこの1件だけを書き、"
          "他と明確に違うものにしてください。あなたが使う{k}番目の切り口で書いてください。）",
    "es": "\n\n(Escribe solo el elemento {k} de {n}; los otros {rest} se escriben por separado. Da solo este, sin "
          "numeración ni preámbulo, y que sea claramente distinto de los demás: usa el enfoque número {k} que usarías.)",
    "fr": "\n\n(Tu écris seulement l'élément {k} sur {n} ; les {rest} autres sont écrits séparément. Donne uniquement "
          "celui-ci, sans numéro ni préambule, et rends-le nettement différent des autres : prends ta {k}e approche.)",
    "de": "\n\n(Du schreibst nur Element {k} von {n}; die anderen {rest} werden getrennt geschrieben. Gib nur dieses "
          "eine an, ohne Nummer oder Einleitung, deutlich verschieden von den anderen: nimm deinen {k}. Ansatz.)",
    "ru": "\n\n(Ты пишешь только пункт {k} из {n}; остальные {rest} пишутся отдельно. Дай только этот пункт, без номера "
          "и вступления, явно отличный от остальных: используй свой {k}-й подход.)",
}


def _slot_note(index: int, n: int, language: str = "en") -> str:
    """Tells one branch of a repeated generation which slot of the set it covers, in the prompt's language."""
    if language in _SLOT_NOTES:
        return _SLOT_NOTES[language].format(k=index, n=n, rest=n - 1)
    return (f"\n\n(This is item {index} of {n}; the other {n - 1} are written separately. Give only this one "
            f"item, without numbering or introduction, and make it different from the others.)")


# Where a second item would start: a branch of a repeated generation writes one.
ONE_ITEM_STOPS = ("\n2.", "\n2)", "\n\n2")


def _item_options(schema: Schema, index: int, options: CompileOptions, budget: Budget,
                  fmt: ItemFormat | None = None) -> dict[str, Any]:
    cap = budget.cap(options.item_max_tokens) if options.budget_items else options.item_max_tokens
    sized = {"max_tokens": cap, "expected_tokens": min(cap, budget.expected_tokens)}
    if schema.n is not None:
        return {**sized, "temperature": options.repeat_temperature, "seed": index,
                "stop": ONE_ITEM_STOPS + _label_stops(fmt)}
    return sized


def _label_stops(fmt: ItemFormat | None) -> tuple[str, ...]:
    """Where a second item would start in the prompt's own format: a new line opening with its label."""
    if fmt is None or "{index}" not in fmt.item_format:
        return ()
    prefix = render(fmt.item_format.split("{index}", 1)[0], {})
    return ("\n" + prefix,) if len(prefix.strip()) >= 2 else ()


def _branch_text(schema: Schema, index: int, fmt: ItemFormat | None, constraints: tuple[str, ...],
                 budget: Budget) -> str:
    """One branch's request: its item, told to write only the body when the join writes the label, the
    constraints the prompt states once for all items, and a short item's length when the prompt gives none."""
    text = render_item(schema, index)
    if fmt is not None:
        text = text.replace(fmt.evidence, "").replace("\n\n\n", "\n\n")
        label = render(fmt.item_format, {"index": str(index), "output": ""}).strip()
        text += f"\n\n(Write only the content of this item; the answer adds its label \"{label}\" itself.)"
    if constraints:
        text += "\n\n(For every item: " + " ".join(constraints) + ")"
    if note := length_note(budget, schema.language):
        text += "\n\n" + note
    return text


def _scope_format(schema: Schema) -> tuple[str, str]:
    """(item_format, separator) that make the join look like the serial answer."""
    if schema.n is not None:
        return "{index}. {output}", "\n"
    if schema.pattern == "bulleted":
        return "- {output}", "\n"
    if any(d.rstrip().endswith(("?", "？")) for d in schema.data or ()):
        return "{index}. {output}", "\n\n"
    if schema.pattern in ("numbered", "inline-numbered"):
        return "{index}. {output}", "\n"
    return "{output}", "\n"


def _without_sentence(template: str, evidence: str) -> str:
    """The template minus the sentence that asks for the final step (branches must not do it)."""
    at = template.find(evidence)
    if at < 0 or not evidence:
        return template
    start = max(template.rfind(ch, 0, at) for ch in ".!?\n。！？") + 1
    ends = [i for ch in ".!?\n。！？" if (i := template.find(ch, at + len(evidence))) >= 0]
    end = min(ends, default=len(template) - 1) + 1
    if "{" in template[start:end]:
        return template  # never cut a placeholder out
    return (template[:start] + template[end:]).strip()


def _parallel_graph(prompt: str, schema: Schema, deps: tuple[Dependency, ...], options: CompileOptions) -> Graph:
    g = Graph()
    for dep in deps:
        if dep.kind is DependencyKind.AGGREGATE:
            schema = schema.model_copy(update={"template": _without_sentence(schema.template, dep.evidence)})
    fmt = detect_format(prompt) if schema.n is not None else None
    item_format, separator = (fmt.item_format, fmt.separator) if fmt else _scope_format(schema)
    budget = item_budget(schema, prompt)
    constraints = shared_constraints(prompt, schema)
    waits = {d.item for d in deps if d.kind is DependencyKind.CHAIN and d.item}
    numbered = item_format != "{output}"  # the join writes its own markers: drop the ones branches write
    join = {"separator": separator, "item_format": item_format, "strip_markers": numbered,
            "strip_label": fmt.label if fmt else ""}
    with g.scope("answers", **join) as scope:
        for k in range(1, schema.count + 1):
            text = escape(_branch_text(schema, k, fmt, constraints, budget))
            if k in waits:
                text += _previous(schema, k)
            scope.generate(text, name=f"item-{k}", **_item_options(schema, k, options, budget, fmt))
    last = "answers"
    shared = next((d for d in deps if d.kind is DependencyKind.SHARED), None)
    if shared is not None and schema.n is not None:
        note = (f"\n\n(Answer only this part of the request: '{shared.evidence.rstrip('.')}'. The {schema.n} items it also asks "
                f"for are written separately; do not write them.)")
        g.generate(escape(_PLACEHOLDER.sub(lambda m: str(schema.n) if m.group(1) == "n" else schema.context,
                                           schema.template) + note),
                   name="shared", max_tokens=options.item_max_tokens)
        last = g.combine("{shared}\n\n{answers}", name="answer")
    if schema.data is not None and schema.category in _LABELED:
        lines = [f"{escape(label)}: {{item-{k}}}" for k, label in enumerate(schema.data, start=1)]
        last = g.combine("\n".join(lines), name="answer", after=("answers",))
    for dep in deps:
        if dep.kind is DependencyKind.AGGREGATE:
            g.generate(
                escape(prompt) + escape("\n\n---\nAnswers to each part, in order:\n") + "{" + last + "}"
                + escape(f"\n---\nUsing these answers, do the final step the request asks for "
                         f"('{dep.evidence}') and give the complete response."),
                name="final", max_tokens=options.final_max_tokens,
                expected_tokens=min(options.final_max_tokens,
                                    schema.count * budget.expected_tokens + FINAL_EXTRA),
            )
            break
    return g


def _previous(schema: Schema, k: int) -> str:
    """Template text that hands item k the item before it and that item's answer (an edge k-1 -> k)."""
    before = (schema.data or [""])[k - 2]
    return escape(f"\n\nThis follows the previous item: {before}\nIts answer was: ") + "{item-" + str(k - 1) + "}"


def _chain_graph(schema: Schema, options: CompileOptions) -> Graph:
    g = Graph()
    budget = item_budget(schema)
    for k in range(1, schema.count + 1):
        text = escape(render_item(schema, k))
        if k > 1:
            text += escape("\n\nYour answer to the previous part was:\n") + "{item-" + str(k - 1) + "}"
        g.generate(text, name=f"item-{k}", **_item_options(schema, k, options, budget))
    g.combine("\n\n".join(f"{k}. {{item-{k}}}" for k in range(1, schema.count + 1)), name="answer")
    return g
