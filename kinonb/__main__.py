"""``python -m kinonb``: the kinonb command line (kinonb/cli.py)."""

from .cli import main

raise SystemExit(main())
