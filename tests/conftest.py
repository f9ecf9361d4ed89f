"""Shared fixtures. Test modules are grouped by behaviour; see tests/README.md."""
