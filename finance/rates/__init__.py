"""Exchange rates into the business currency (settings.BUSINESS_CURRENCY, CNY by default).

models: one rate per business day and currency; selectors: `rate_on` (the latest on or before a
day) and a rate table for reports; conversion: the rounding rule and sums in the business currency
that keep the original currencies; reporting: converted cells and summary lines of reports;
services: storing imported or published rates and filling in payments recorded before their
rate was known; providers and ecb: the published source.
See docs/product.md, "Currencies".
"""
