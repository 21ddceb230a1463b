"""kinonb.format."""
