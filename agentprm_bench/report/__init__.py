"""Leaderboards, scaling curves and compute-efficiency tables, read only from result files."""
