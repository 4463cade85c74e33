"""Refunds triggered by inspection (R-R4): how much (amounts), the refund's life from creation to
settlement (lifecycle), and one outbox handler per provider that holds the customer's money
(stripe, alipay, shopify, sharing delivery). returns.apps imports the handler modules at start-up
so that they are registered."""
