"""Small video clips encoded with PyAV for tests (owned by sources)."""
