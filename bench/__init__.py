"""Benchmarks: `python -m bench.run [names...]` (`make bench`) runs every
`bench/bench_*.py` module's `main()`. Shared pieces are in `bench.harness`;
the bare nameko baselines in `bench.bare`."""
