"""Worked examples. Each is a script (run it with ``python examples/NAME.py``) and a
module with a ``main()`` that ``lagrangian demo`` runs and that returns what it found."""

# The order in which `lagrangian demo` runs them.
DEMOS = (
    "solve_kkt_from_a_script",
    "backprop_is_a_kkt_solve",
    "network_as_a_kkt_system",
    "regression_and_factorization_as_networks",
    "fixed_point_layer",
    "ridge_penalty_is_a_multiplier",
)
