"""Files and the terminal: atomic writes, YAML that keeps names as written, progress bars."""
