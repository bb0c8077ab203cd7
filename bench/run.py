"""Run the benchmarks: every `bench/bench_*.py` module's `main()`, or the ones named.

    python -m bench.run                 # all of them (`make bench`)
    python -m bench.run gateway         # bench/bench_gateway.py only (`bench_gateway` works too)
    python -m bench.run --list
"""
import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def discover() -> dict[str, str]:
    """{short name: module} for every bench/bench_*.py, in name order."""
    return {path.stem.removeprefix("bench_"): f"bench.{path.stem}" for path in sorted(HERE.glob("bench_*.py"))}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    available = discover()
    if args.list:
        print("\n".join(available))
        return 0
    chosen = [name.removeprefix("bench_").removesuffix(".py") for name in args.names] or list(available)
    unknown = [name for name in chosen if name not in available]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available)}")
    failed = []
    for name in chosen:
        print(f"=== {name} ({available[name]}) {time.strftime('%Y-%m-%d %H:%M:%S %Z')}", flush=True)
        began = time.monotonic()
        try:
            importlib.import_module(available[name]).main()
        except Exception:
            traceback.print_exc()
            failed.append(name)
        print(f"=== {name}: {'FAILED' if name in failed else 'done'} in {time.monotonic() - began:.0f} s\n", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
