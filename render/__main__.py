"""`python -m render <stack> --out DIR`: the offline render (see `render.cli`); `python -m render diff ...`: two renders compared (`render.diff`)."""

import gc
import os
import sys

# A render is a short batch job that builds a few hundred MB of parsed charts, CRDs and
# reports, next to nothing of it cyclic. The cyclic collector's full passes over that heap
# cost about 0.6 s a render (one pass: over 0.2 s), and in the forked workers they write to
# every object's header, copying pages the parent shares. Reference counting still frees
# everything acyclic (the cyclic rest measured under 80,000 small objects, no change in peak
# memory), and the process ends when the render is written.
gc.disable()

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
