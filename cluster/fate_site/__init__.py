"""Holds the ``sitecustomize`` that ``cluster.connect`` puts on an embedded Ray's PYTHONPATH (a package so it installs)."""
