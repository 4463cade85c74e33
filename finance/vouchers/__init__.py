"""Accounting vouchers (R-M6): a period's revenue lines as debit/credit entries in a configurable
layout, released for download only after a second finance user approves."""
