"""Features: one module per feature, each exposing `register(app)`; none imports a platform library."""
