"""Dated domain rules (pure functions over integer cents and dates) and the rights ledger with its invariants."""
