"""Broadcast: behaviour on every backend, forwarding, Redis failures, workers."""
