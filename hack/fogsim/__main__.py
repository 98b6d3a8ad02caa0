"""``python -m fogsim`` = the ``fogsim`` console script."""

from fogsim.cli import main

raise SystemExit(main())
