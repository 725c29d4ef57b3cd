"""What every benchmark section shares: child processes, the sandbox, workloads, the report."""
