"""Read side: aggregate, score, gate (pure); render markdown and draw charts."""

from __future__ import annotations
