"""scipy's ``scipy/optimize/tests/test_minimize_constrained.py``, imported from the installed scipy and run through the routing in conftest.py."""

from scipy.optimize.tests.test_minimize_constrained import *  # noqa: F401,F403
