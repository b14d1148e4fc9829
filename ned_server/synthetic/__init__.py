"""synthetic stage."""
