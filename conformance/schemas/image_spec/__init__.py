"""OCI image-spec v1.1.1 JSON schemas (data only)."""
