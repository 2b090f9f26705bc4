"""Helpers for scripts/bench (treepack's benchmark, issue #3)."""
