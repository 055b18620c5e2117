"""``python -m knowledge kb ...``."""

from knowledge.cli import main

raise SystemExit(main())
