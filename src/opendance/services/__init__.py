"""Use cases: submit, status, billing, accounts. No HTTP and no SQL strings here."""
