"""snf.cli: the snf-encode, snf-decode and snf-info commands (one line of error, exit 2, no traceback)."""
