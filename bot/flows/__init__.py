"""Use cases: each takes its adapters as arguments so tests can hand it real ones."""
