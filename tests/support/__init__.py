"""Test support code shared by the unit, integration and e2e suites."""
