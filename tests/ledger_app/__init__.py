"""A holder type that only the tests define: proves the ledger is open (SPEC §9)."""
