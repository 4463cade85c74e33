"""Statement imports (R-M3): platform settlement statements, bank statements and POS receipts,
read from CSV/XLSX through a column layout, validated row by row, previewed, then inserted whole."""
