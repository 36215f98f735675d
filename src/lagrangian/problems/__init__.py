"""Reference problem sets shipped with the package (data copied from public sources)."""

from .hock_schittkowski import HSProblem, load, names, passes

__all__ = ["HSProblem", "load", "names", "passes"]
