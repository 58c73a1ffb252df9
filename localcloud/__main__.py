"""`python -m localcloud demo | run FILE... | up`: see localcloud/cli.py."""

from .cli import main

raise SystemExit(main())
