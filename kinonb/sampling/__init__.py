"""kinonb.sampling."""
