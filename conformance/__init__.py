"""The conformance suite: pytest checks of a registry against the OCI Distribution Spec."""
