"""Asset checks of this code location."""
