"""JSON schemas the suite validates against (data only); see README.md."""
