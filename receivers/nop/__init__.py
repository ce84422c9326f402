"""The `nop` receiver: receives nothing (a pipeline for a process that only serves queries)."""
