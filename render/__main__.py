"""`python -m render <stack> --out DIR`: the offline render (see `render.cli`)."""

import os
import sys

from render.cli import main

code = main()
# Everything is written and flushed; skip tearing down the hundreds of MB of parsed
# charts and CRDs object by object (over half a second), as a CLI may.
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
