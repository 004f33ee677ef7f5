"""Runner: discovers the benchmark modules in this package and runs them.

A benchmark is any public module ``benchmarks/<name>.py`` with a ``main(argv) -> int``.
Modules may set ``RUN_BY_DEFAULT = False`` to be left out of the no-argument run
(long runs such as the 51-state daily run).
"""

import importlib
import pkgutil
import sys
import time

import benchmarks


def discover() -> dict[str, object]:
    found = {}
    for info in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"benchmarks.{info.name}")
        if callable(getattr(module, "main", None)):
            found[info.name] = module
    return found


def describe(modules: dict[str, object]) -> str:
    lines = ["benchmarks (python -m benchmarks NAME [args]; NAME --help for options):"]
    for name, module in modules.items():
        doc = (module.__doc__ or "").strip().splitlines()
        default = "" if getattr(module, "RUN_BY_DEFAULT", True) else "  [not in the default run]"
        lines.append(f"  {name:<24} {doc[0] if doc else ''}{default}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    modules = discover()
    if argv and argv[0] in ("-l", "--list", "-h", "--help"):
        print(describe(modules))
        return 0
    if argv:
        name, rest = argv[0], argv[1:]
        if name not in modules:
            print(f"unknown benchmark {name!r}\n{describe(modules)}", file=sys.stderr)
            return 2
        return int(modules[name].main(rest) or 0)
    failed = []
    for name, module in modules.items():
        if not getattr(module, "RUN_BY_DEFAULT", True):
            continue
        print(f"\n=== benchmark {name} ===", flush=True)
        started = time.perf_counter()
        rc = int(module.main([]) or 0)
        print(f"=== {name}: exit {rc} after {time.perf_counter() - started:.0f} s ===", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
