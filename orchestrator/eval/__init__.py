"""Evaluation of whole runs: serial against parallel on the same engine, speed and answer quality.

- :mod:`orchestrator.eval.fidelity`: semantic similarity of two answers (sentence embeddings);
- :mod:`orchestrator.eval.judge`: an optional pairwise LLM judge (OpenAI-compatible, shuffled order);
- :mod:`orchestrator.eval.metrics`: per-prompt figures and the summary (pure arithmetic);
- :mod:`orchestrator.eval.runner`: ``forkjoin eval run`` (both strategies, alternating, K repeats);
- :mod:`orchestrator.eval.report`: the Parquet results, the Markdown report and its plots.
"""
