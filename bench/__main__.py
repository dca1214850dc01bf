"""`python -m bench [--sizes 1000] [--databases sqlite,postgresql] …`: see `python -m bench --help`."""

from __future__ import annotations

from bench.cli import main

raise SystemExit(main())
