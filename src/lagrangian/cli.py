"""The ``lagrangian`` command.

``lagrangian demo`` runs every worked example; ``lagrangian demo NAME ...`` runs the
ones named; ``lagrangian demo --list`` lists them. Each example is introduced by one
sentence saying what problem it solves, prints its own working, and ends with a short
summary and its checks, one ``pass``/``FAIL`` line each. The exit status is 0 when
every check passed, 1 when one failed and 2 for a name that is not an example (the
answer lists the names).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import textwrap
import time

from . import __version__

WIDTH = 78


def _catalogue():
    from . import examples  # the examples/ directory, mapped into the package

    return examples.DEMOS


def _listing(demos) -> str:
    """Each example's name and, indented under it, the sentence that says what it solves."""
    lines = []
    for demo in demos:
        lines.append(f"  {demo.name}")
        lines.extend(textwrap.wrap(demo.problem, WIDTH, initial_indent=" " * 6, subsequent_indent=" " * 6))
    return "\n".join(lines)


def run_demo(demo, *, out=None) -> bool:
    """Run one example: say what it solves, run it, summarize, print its checks. True if all pass."""
    out = out or sys.stdout
    print(f"\n{'=' * WIDTH}\n{demo.name}\n{'=' * WIDTH}", file=out)
    print(textwrap.fill(demo.problem, WIDTH) + "\n", file=out)
    start = time.perf_counter()
    module = importlib.import_module(f"lagrangian.examples.{demo.name}")
    found = module.main() or {}
    elapsed = time.perf_counter() - start
    print("\n" + textwrap.fill(f"Found: {demo.summary.format_map(found)} ({elapsed:.2f} s).", WIDTH), file=out)
    passed = True
    for check in demo.checks:
        holds = check.holds(found)
        passed &= holds
        print(f"  {'pass' if holds else 'FAIL'}  {check.claim} ({check.measured(found)})", file=out)
    return passed


def demo(names=None, *, demos=None) -> int:
    """Run the named examples (all when ``names`` is empty); the exit status of ``lagrangian demo``."""
    demos = _catalogue() if demos is None else demos
    by_name = {d.name: d for d in demos}
    unknown = [name for name in names or () if name not in by_name]
    if unknown:
        print(f"lagrangian demo: no example named {', '.join(map(repr, unknown))}. The examples are:", file=sys.stderr)
        print(_listing(demos), file=sys.stderr)
        return 2
    chosen = [by_name[name] for name in names] if names else list(demos)
    failed = [d.name for d in chosen if not run_demo(d)]
    checks = sum(len(d.checks) for d in chosen)
    if failed:
        print(f"\n{len(failed)} of {len(chosen)} examples failed a check: {', '.join(failed)}")
        return 1
    print(f"\nAll {checks} checks of {len(chosen)} example{'s' if len(chosen) != 1 else ''} passed.")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="lagrangian", description="Constrained optimization where every problem is a Lagrangian.")
    parser.add_argument("--version", action="version", version=f"lagrangian {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demos = _catalogue()
    run = commands.add_parser(
        "demo",
        help="run the worked examples and check what they found",
        description="Run the worked examples (all of them, or those named) and check each answer.",
        epilog="examples:\n" + _listing(demos),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("names", nargs="*", metavar="NAME", help="run only these examples")
    run.add_argument("--list", action="store_true", help="list the examples and what each solves, then stop")
    args = parser.parse_args(argv)
    if args.list:
        print(_listing(demos))
        return 0
    return demo(args.names, demos=demos)


if __name__ == "__main__":
    sys.exit(main())
