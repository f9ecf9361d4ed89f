"""trio_ws benchmarks: ``python -m bench`` (see bench/README.md). Never part of CI timing."""
