"""NexaFi AI Service: train, evaluate, version, serve, explain and monitor fintech models."""

__version__ = "0.1.0"

__all__ = ["__version__"]
