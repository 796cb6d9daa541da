"""Where Kara keeps what it writes safe: atomic writes, folder locks, named fault points."""
