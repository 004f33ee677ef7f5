"""Resources shared by both code locations: the lake IO manager, settings, and more."""
