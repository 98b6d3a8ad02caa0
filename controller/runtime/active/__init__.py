"""The ActiveStrategy reconciler, one room per concern.

``reconciler`` is the loop (stored status, probe pacing, steps, writes); ``inputs``
resolves the documents a strategy decides from; ``observer`` reads the fog and answers
placement questions; ``executor`` carries out a decision's actions; ``reporter`` tells
what happened in log sentences, metrics and events. Each keeps its own part of a
strategy's memory.
"""

from controller.runtime.active.reconciler import ActiveStrategyReconciler

__all__ = ["ActiveStrategyReconciler"]
