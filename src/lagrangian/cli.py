"""The ``lagrangian`` command: ``lagrangian demo`` runs every worked example."""

from __future__ import annotations

import argparse
import importlib
import sys
import time

from . import __version__


def demo(names=None) -> int:
    """Run the examples in ``lagrangian.examples`` and print what each found."""
    from . import examples  # the examples/ directory, mapped into the package

    for name in names or examples.DEMOS:
        print(f"\n{'=' * 78}\n{name}\n{'=' * 78}")
        start = time.perf_counter()
        module = importlib.import_module(f"lagrangian.examples.{name}")
        found = module.main()
        elapsed = time.perf_counter() - start
        print(f"\n[{name}: done in {elapsed:.2f} s]")
        for key, value in (found or {}).items():
            print(f"  {key}: {value}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="lagrangian", description="Constrained optimization where every problem is a Lagrangian.")
    parser.add_argument("--version", action="version", version=f"lagrangian {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("demo", help="run the worked examples and print what they found")
    run.add_argument("names", nargs="*", help="run only these examples")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo(args.names)
    return 2


if __name__ == "__main__":
    sys.exit(main())
