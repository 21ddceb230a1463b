"""kinonb.store."""
