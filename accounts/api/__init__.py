"""The REST API of the accounts app (SPEC §8), one module per entity."""
