"""renderer stage."""
