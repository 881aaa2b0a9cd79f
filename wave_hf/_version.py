"""The package version, in a module of its own so that any subpackage may read it (it imports nothing)."""

__version__ = "0.1.0"
