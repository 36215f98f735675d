"""``python -m lagrangian demo`` is the same as ``lagrangian demo``."""

import sys

from .cli import main

sys.exit(main())
