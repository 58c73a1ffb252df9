"""`python -m localcloud demo | run FILE... | up`: see localcloud/tools/cli.py."""

from localcloud.tools.cli import main

raise SystemExit(main())
