//! The `vpnjail` deployment tool: site model, renderers and command executor.
