"""fogstrat tests."""
