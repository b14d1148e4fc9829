"""manipulator stage."""
