"""`python -m bench [--only api,sweepers,crypto] [--databases sqlite,postgresql] …`: see `--help`."""

from __future__ import annotations

from bench.cli import main

raise SystemExit(main())
