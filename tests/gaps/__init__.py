"""Gaps left in issues 4, 5 and 12: per-profile attempts, daily quota, seed 002 generate, unsaved modal images, chat summaries."""
