"""Put the repository's root on ``sys.path``, so a benchmark run as a script can import the test
oracles (``tests.kernels.oracle``, ``tests.kernels.setup_oracle``) beside ``simengine``."""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
