"""Stand-alone helpers that run inside any revision of kemu (see benchmarks/_revision.py).

The modules here import only the standard library and the parts of kemu every
revision since 24d3ebe has; they are importable as ``benchmarks.portable.X``
from this tree and as top-level ``X`` in a subprocess whose PYTHONPATH
holds this directory.
"""
