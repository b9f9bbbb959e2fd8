//! How long work (training, the eval, contact sheets, datasets) says how far it has come: the
//! CLI draws bars from it, servers and tests pass [`Silent`].

pub trait Progress {
    /// A new stage begins: what it does, and how many units it takes (0 if not known yet).
    fn stage(&mut self, what: &str, total: u64);
    /// The current stage has `done` of `total` units done.
    fn set(&mut self, done: u64, total: u64);
    /// A short status for the current stage (a loss, a rate).
    fn message(&mut self, _text: &str) {}
}

/// Reports nothing.
pub struct Silent;

impl Progress for Silent {
    fn stage(&mut self, _what: &str, _total: u64) {}
    fn set(&mut self, _done: u64, _total: u64) {}
}
