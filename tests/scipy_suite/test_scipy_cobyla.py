"""scipy's ``scipy/optimize/tests/test_cobyla.py``, imported from the installed scipy and run through the routing in conftest.py."""

from scipy.optimize.tests.test_cobyla import *  # noqa: F401,F403
