"""The fog client interface and its drivers (fogsim, fog05)."""
