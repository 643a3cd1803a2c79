//! The `vpndns` DNS proxy.
