"""The reconciler: a pure decision (``decision``) over an immutable status (``status``)."""
