//! What the parser decided about the messages a thread saw last.
//!
//! A log repeats whole messages (two lines in three of the benchmark corpus
//! repeat one of the 256 lines before them), and both things the parser
//! works out from a message alone, the built-in rules' [`Verdict`] and the
//! base signature, are pure functions of it. An indexing thread therefore
//! remembers them for its recent short messages: one hash and one
//! comparison instead of the rules and the signature's rewrites. What
//! depends on the lines before (the section) is applied by the caller.

use std::cell::RefCell;
use std::hash::BuildHasher;

use rustc_hash::FxBuildHasher;

use super::rules::{self, Verdict};
use crate::signature::{signature_of, SignatureId};

/// What a message says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Decided {
    pub verdict: Option<Verdict>,
    pub signature: SignatureId,
}

impl Decided {
    fn of(message: &str) -> Decided {
        Decided {
            verdict: rules::verdict(message),
            signature: signature_of(message),
        }
    }
}

/// Messages of at most this many bytes are remembered.
const MESSAGE_BYTES: usize = 256;
/// Slots of the table (a power of two): at most 256 KiB of messages a
/// thread.
const SLOTS: usize = 1024;

/// A direct-mapped table keyed by a hash of the whole message, each slot
/// holding the message itself, so that a hit is an exact match, never a
/// hash collision.
struct Recent {
    slots: Vec<Option<(u64, String, Decided)>>,
}

thread_local! {
    static RECENT: RefCell<Recent> = const { RefCell::new(Recent { slots: Vec::new() }) };
}

/// What `message` (a line after its timestamp) says about itself, from the
/// thread's table when it was seen lately.
pub(super) fn decide(message: &str) -> Decided {
    if message.len() > MESSAGE_BYTES {
        return Decided::of(message);
    }
    let remembered = RECENT.try_with(|cell| {
        cell.try_borrow_mut()
            .ok()
            .map(|mut recent| recent.get_or_decide(message))
    });
    match remembered {
        Ok(Some(decided)) => decided,
        // Reentered, or the thread's storage is being torn down.
        _ => Decided::of(message),
    }
}

impl Recent {
    fn get_or_decide(&mut self, message: &str) -> Decided {
        if self.slots.is_empty() {
            self.slots.resize_with(SLOTS, || None);
        }
        let key = FxBuildHasher.hash_one(message.as_bytes());
        let Some(slot) = self.slots.get_mut((key as usize) & (SLOTS - 1)) else {
            return Decided::of(message);
        };
        if let Some((k, m, decided)) = slot {
            if *k == key && m == message {
                return *decided;
            }
        }
        let decided = Decided::of(message);
        match slot {
            Some((k, m, d)) => {
                *k = key;
                m.clear();
                m.push_str(message);
                *d = decided;
            }
            None => *slot = Some((key, message.to_owned(), decided)),
        }
        decided
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_decisions_are_the_computed_ones() {
        // More messages than the table has slots, so slots are reused, each
        // asked for twice (the second time from the table when still there);
        // some past the remembered length.
        let messages: Vec<String> = (0..5_000)
            .map(|i| match i % 4 {
                0 => format!("[ERROR] broken packet (size {i})"),
                1 => format!("user{} logged in from host{}", i % 7, i % 11),
                2 => format!("warning: step {} of {}", i % 13, "x".repeat(i % 300)),
                _ => format!("=== CCExtractor Binary Version === {}", i % 5),
            })
            .collect();
        let mut errors = 0;
        for _ in 0..2 {
            for m in &messages {
                let decided = decide(m);
                assert_eq!(decided, Decided::of(m), "{m}");
                assert_eq!(decided.signature, crate::signature::shape_of(m).id, "{m}");
                errors += usize::from(matches!(
                    decided.verdict,
                    Some(Verdict {
                        level: super::super::Level::Error,
                        ..
                    })
                ));
            }
        }
        // The rules did run: every "[ERROR]" line is an error, both times.
        assert_eq!(errors, 2 * messages.len().div_ceil(4));
    }
}
