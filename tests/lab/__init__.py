"""Tier-3 lab infrastructure tests (need root)."""
