//! Static checkers for generated files: a jail.conf(5) parser and a pf anchor
//! checker. Used by the tests and by `vpnjail render --lint`.
pub mod jailconf;
pub mod pf;
