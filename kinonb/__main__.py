"""``python -m kinonb``: the kinonb command line (kinonb/cli/)."""

from .cli import main

raise SystemExit(main())
