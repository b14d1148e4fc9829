"""The gRPC layer: the server app, the thin servicer, wire <-> domain conversion, auth and the CLIs."""
