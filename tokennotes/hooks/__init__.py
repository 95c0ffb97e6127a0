"""Write side: agent-log collectors, attribution, classifier, record and sync."""

from __future__ import annotations
