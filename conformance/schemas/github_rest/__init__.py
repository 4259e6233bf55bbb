"""GitHub's REST description, packages extract (data only); see ../README.md."""
