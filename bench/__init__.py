"""Benchmarks that print ratios against a baseline run side by side."""
