"""scipy's ``scipy/optimize/tests/test_constraint_conversion.py``, imported from the installed scipy and run through the routing in conftest.py."""

from scipy.optimize.tests.test_constraint_conversion import *  # noqa: F401,F403
