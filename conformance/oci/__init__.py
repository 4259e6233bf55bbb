"""OCI Distribution Spec v1.1.1 checks: one module per spec area (see OCI_MAPPING.md)."""
