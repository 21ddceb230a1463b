"""kinonb.ops."""
