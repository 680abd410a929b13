"""`python -m render <stack> --out DIR`: the offline render (see `render.cli`); `python -m render diff ...`: two renders compared (`render.diff`)."""

import os
import sys

if sys.argv[1:2] == ["diff"]:
    # `python -m render diff`: reads two renders, loads nothing of the engine.
    from render.diff import main as diff_main

    code = diff_main(sys.argv[2:])
else:
    from render.cli import main

    code = main()
# Everything is written and flushed; skip tearing down the hundreds of MB of parsed
# charts and CRDs object by object (over half a second), as a CLI may.
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
