"""Tiny exported models for tests (owned by engine/export)."""
