"""face3d stage."""
