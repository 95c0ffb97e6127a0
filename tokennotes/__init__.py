"""tokennotes: AI-agent token spend per commit, recorded in git notes."""

from __future__ import annotations

__version__ = "0.1.0"
