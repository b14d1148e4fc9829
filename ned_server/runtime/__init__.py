"""Runtime: storage, intake, jobs, scheduling, caches, streaming, cancellation and the one atomic writer."""
