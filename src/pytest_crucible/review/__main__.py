"""`python -m pytest_crucible.review --await-request`: the session's analysis child
(`review/session_end.py`: `main`)."""

import sys

from pytest_crucible.review.session_end import main

sys.exit(main())
