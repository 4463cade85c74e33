"""Refunds triggered by inspection (R-R4): how much (amounts), the refund's life from creation to
settlement (lifecycle), and one outbox handler per provider that holds the customer's money
(stripe, alipay, wechatpay, shopify, sharing delivery). config/registry.py wires each handler to its
`finance.refund.<provider>` outbox kind."""
