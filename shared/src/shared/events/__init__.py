"""Event backbone: envelope, transactional outbox, relay to Redis Streams, consumers.

Import from the submodules (`shared.events.outbox`, `...relay`, `...consumer`); this
package stays empty so that `shared.settings` can import `shared.events.settings`.
"""
