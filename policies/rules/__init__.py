"""Rule modules, one per area."""
