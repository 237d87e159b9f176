"""Pure domain rules: no I/O."""
