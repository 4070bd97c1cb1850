"""Speed, memory and quality benchmarks (not part of the test suite)."""
