"""The prompt compiler: find the parallelism inside a prompt and compile it to a graph.

Pure (no I/O, no engine). Public API:

- :func:`compile_prompt` -> :class:`Compiled` (schema, dependencies, graph);
- :func:`extract_rules` (rule-based extractor) and :func:`validate` (five rules, tier);
- :func:`detect` (dependencies); the LLM-assisted extractor's pure half in
  :mod:`graphs.compiler.llm` (prompt text, JSON parsing).
"""

from graphs.compiler.build import CompileOptions, Compiled, compile_prompt, graph_dict, render_item, serial_graph
from graphs.compiler.depend import Dependency, DependencyKind, detect, is_serial
from graphs.compiler.extract import extract_rules
from graphs.compiler.lang import SUPPORTED, detect_language
from graphs.compiler.schema import CANONICAL_CATEGORIES, Category, Extraction, Schema, Tier
from graphs.compiler.validate import validate

__all__ = [
    "CANONICAL_CATEGORIES",
    "Category",
    "CompileOptions",
    "Compiled",
    "Dependency",
    "DependencyKind",
    "Extraction",
    "SUPPORTED",
    "Schema",
    "Tier",
    "compile_prompt",
    "detect",
    "detect_language",
    "extract_rules",
    "graph_dict",
    "is_serial",
    "render_item",
    "serial_graph",
    "validate",
]
