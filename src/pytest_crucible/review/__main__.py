"""`python -m pytest_crucible.review --await-request`: the session's analysis child
(`review/session_end.py`: `main`).

Once `main` returns, its answers are on stdout and its store is closed; the session waits
for this process to exit, and the interpreter's teardown of numpy, pandas and scipy would
add 0.2-0.4 s to every session's end. So the child flushes its output and leaves at once
(an exception still ends it the usual way, with its traceback)."""

import os
import sys

from pytest_crucible.review.session_end import main

status = int(main())
sys.stdout.flush()
sys.stderr.flush()
os._exit(status)
