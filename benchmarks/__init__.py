"""Side-by-side measurements; each benchmark prints a ratio against its baseline.

Run ``python -m benchmarks`` (all default benchmarks), ``python -m benchmarks --list``,
or ``python -m benchmarks NAME [args]`` for one module ``benchmarks/NAME.py``.
"""
