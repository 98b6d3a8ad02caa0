"""fogsim: a fog05-compatible local fog that runs real processes."""
