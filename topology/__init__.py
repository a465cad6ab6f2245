"""Fabric topology discovery and path computation (networkx)."""
