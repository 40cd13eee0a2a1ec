"""Benchmarks: ``python -m bench [NAME...]``; see bench/__main__.py for how to add one."""
