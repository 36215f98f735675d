"""scipy's ``scipy/optimize/tests/test_optimize.py``, imported from the installed scipy and run through the routing in conftest.py."""

from scipy.optimize.tests.test_optimize import *  # noqa: F401,F403
