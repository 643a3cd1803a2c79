//! Static checkers for generated files (used by tests and `vpnjail render --lint`).
