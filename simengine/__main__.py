"""``python -m simengine``: the same command as the ``simengine`` console script."""

import sys

from simengine.cli import main

sys.exit(main())
