"""Benchmarks of asg-namer against the token-bucket floor and a naive baseline (``asg-namer bench``)."""
