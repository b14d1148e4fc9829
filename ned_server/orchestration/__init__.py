"""Orchestration: the facade the servicer calls, and the RPC-sized jobs it runs over the stages."""
