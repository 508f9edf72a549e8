# Benchmarks: bench/compare (refsweep side by side with glibc, LeakSanitizer,
# heaptrack and valgrind; docs/benchmarks.md) and its smoke test. The full
# comparison is run by hand, never by make check: it takes many minutes.
TESTS += bench/compare-quick.sh
EXTRA_DIST += bench/compare bench/compare-quick.sh bench/spawn.c bench/analyzer/throughput.sh \
	bench/workloads/churn.c bench/workloads/prodcons.c \
	bench/workloads/binary-trees.c bench/workloads/sweep.c \
	bench/workloads/python.py bench/workloads/sqlite.sql \
	bench/workloads/gencode.py
