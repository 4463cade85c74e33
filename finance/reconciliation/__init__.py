"""Reconciliation (R-M4): orders ↔ payments ↔ settlement lines ↔ bank lines for one period."""
