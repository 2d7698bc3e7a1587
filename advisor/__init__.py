"""advisor: diagnose deep-learning training runs from their metric streams and say what to change.

The core imports only the standard library and numpy; frameworks are optional extras imported
where they are used.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
