"""scipy's ``scipy/optimize/tests/test_slsqp.py``, imported from the installed scipy and run through the routing in conftest.py."""

import pytest

# A scipy installed without its test files (some distributions strip them) skips this module.
pytest.importorskip("scipy.optimize.tests.test_slsqp", reason="the installed scipy ships without its test files")

from scipy.optimize.tests.test_slsqp import *  # noqa: E402,F401,F403
