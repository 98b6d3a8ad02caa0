"""fogstrat: keep a service alive on a fog05 fog."""
