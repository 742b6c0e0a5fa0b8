"""The load tester: grows the number of cameras per design and reports throughput, latency and limits."""
