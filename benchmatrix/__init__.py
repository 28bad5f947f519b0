"""benchmatrix: benchmark LLM serving across a hardware x model x load matrix.

The core library. It never imports Prefect: ``flows/`` and ``tasks/`` wrap it.
"""

__version__ = "0.1.0"
