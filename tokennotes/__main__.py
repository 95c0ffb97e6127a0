from __future__ import annotations

from tokennotes.cli import main

raise SystemExit(main())
