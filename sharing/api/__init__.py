"""The API of equity asset sharing (SPEC §4, §8), split by entity: ``assets``
(provisioning, reading, recipients, a recipient's own deduct rule),
``shares`` (sharing and stopping), ``rules`` (automatic sharing rules) and
``usage`` (usage records and the deduction log).

Every view follows the §8 check order: the object in the path among those
the user may see (404) → the body (400) → permission (403) → idempotency →
the service (409).
"""
