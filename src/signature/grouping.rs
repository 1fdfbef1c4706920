//! Grouping base templates: `Invalid user alice from <*>`, `… bob …` and
//! `… carol …` are one message, `Invalid user <*> from <*>`.
//!
//! A template is its tokens (the template split on single spaces). For a
//! template `t` and a position `k` where `t[k]` is not `<*>`, the *slot*
//! `(k, S)` is `t` with `t[k]` replaced by `<*>`: every template equal to
//! `S` except at `k` is in the slot, with its token at `k` as its value.
//! A slot *fires* when
//!
//! * it holds at least [`MIN_VALUES`] values (so two names are not yet a
//!   variable: `Path is empty` and `Path is missing` stay apart),
//! * `S` has at least [`MIN_CONSTANTS`] constant tokens (not `<*>`, with a
//!   letter outside `<*>`), so `<*> <*> done` does not swallow every
//!   three-token line,
//! * not every value is an upper-case word (`GET`, `POST`, `DELETE` are
//!   different requests, not values);
//!
//! and then `S` joins the templates (its own slots take part like any
//! other template's) and everything in the slot is in one group with `S`.
//! Templates with different numbers of tokens never meet in a slot.
//!
//! The rule only ever adds templates and joins groups, and what makes a
//! slot fire stays true when templates are added (monotone), so the groups
//! are the closure of the set of templates under the rule: the same for
//! any order or batching of [`Grouping::add`] calls. A group is named by
//! its smallest base id, so when groups join, the joined group keeps one of
//! the old ids and every id handed out still resolves.
//!
//! The work is incremental: a new template looks up its own slots (one
//! hash lookup per position), and only slots that fire touch other
//! templates. The state is per template (its tokens and its slots, at most
//! one per token), never per line. A template of more than
//! [`MAX_MERGE_TOKENS`] tokens takes no part (its own group): its slots
//! would cost a hash of the whole template per token, quadratic in its
//! length, and such lines (dumps, command lines) are rarely a repeated
//! message with one word changed.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use super::mask::STAR;
use super::{Shape, SignatureId};

/// Distinct values a slot needs to fire.
pub(super) const MIN_VALUES: usize = 3;
/// Constant tokens a slot's template needs to fire.
pub(super) const MIN_CONSTANTS: usize = 2;
/// Longest template (in tokens) that takes part in merging.
pub(super) const MAX_MERGE_TOKENS: usize = 64;

const NONE: u32 = u32::MAX;
/// The token id of `<*>`.
const STAR_TOKEN: u32 = 0;
const CONSTANT: u8 = 1;
const UPPER: u8 = 2;

/// Groups of base templates; see the module documentation.
#[derive(Clone)]
pub struct Grouping {
    /// Token texts by id (`<*>` is 0), their ids, and their
    /// [`CONSTANT`]/[`UPPER`] flags.
    token_text: Vec<Arc<str>>,
    token_ids: HashMap<Arc<str>, u32>,
    token_flags: Vec<u8>,
    /// The tokens of all templates, base and derived, back to back.
    arena: Vec<u32>,
    nodes: Vec<Node>,
    /// Template hash → first node with it (then `Node::next_same`).
    node_index: HashIndex,
    /// Base id → its template's node.
    bases: HashMap<SignatureId, u32>,
    /// Base ids beyond the first of one template (a shape whose id is not
    /// its template's hash), with the group last reported for each.
    aliases: HashMap<u32, Vec<(SignatureId, Option<SignatureId>)>>,
    /// Slot hash → first slot with it (then `Slot::next_same`).
    slot_index: HashIndex,
    slots: Vec<Slot>,
    /// The values of slots with more than one (beyond `Slot::rep`), freed
    /// when the slot fires.
    slot_members: Vec<Vec<u32>>,
    free_members: Vec<u32>,
}

#[derive(Clone)]
struct Node {
    start: u32,
    len: u32,
    next_same: u32,
    /// Union-find parent, size (at roots), and the next node of the same
    /// group (a ring).
    parent: u32,
    size: u32,
    ring: u32,
    /// The smallest base id of the group (at roots).
    min_id: Option<SignatureId>,
    /// The node's base id, if a base template, and the group last reported
    /// for it.
    id: Option<SignatureId>,
    reported: Option<SignatureId>,
}

#[derive(Clone)]
struct Slot {
    /// A template of the slot (its key, once fired) and the position.
    rep: u32,
    k: u16,
    fired: bool,
    /// Some value is not an upper-case word.
    mixed_case: bool,
    next_same: u32,
    /// Index in `slot_members`, or `NONE`.
    members: u32,
}

/// Keys that are hashes already.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type HashIndex = HashMap<u64, u32, BuildHasherDefault<PassThrough>>;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A token's term in a template's polynomial hash.
fn token_term(token: u32) -> u64 {
    mix(u64::from(token).wrapping_add(0x9e37_79b9_7f4a_7c15))
}

const BASE: u64 = 0x2545_f491_4f6c_dd1d;

/// Σ term(t[i])·BASE^i, from which a slot's hash is derived in O(1).
fn polynomial(tokens: &[u32]) -> u64 {
    let mut h = 0u64;
    let mut power = 1u64;
    for &t in tokens {
        h = h.wrapping_add(token_term(t).wrapping_mul(power));
        power = power.wrapping_mul(BASE);
    }
    h
}

fn template_hash(poly: u64, len: usize) -> u64 {
    mix(poly ^ (len as u64).wrapping_mul(0xd6e8_feb8_6659_fd93))
}

fn slot_hash(poly: u64, power: u64, token: u32, k: usize, len: usize) -> u64 {
    let masked = poly
        .wrapping_sub(token_term(token).wrapping_mul(power))
        .wrapping_add(token_term(STAR_TOKEN).wrapping_mul(power));
    mix(masked ^ ((k as u64) << 32 | len as u64).wrapping_mul(0xa076_1d64_78bd_642f))
}

impl Default for Grouping {
    fn default() -> Self {
        Grouping::new()
    }
}

impl fmt::Debug for Grouping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grouping")
            .field("base_ids", &self.bases.len())
            .field("templates", &self.nodes.len())
            .field("slots", &self.slots.len())
            .finish()
    }
}

impl Grouping {
    pub fn new() -> Grouping {
        let star: Arc<str> = Arc::from(STAR);
        Grouping {
            token_text: vec![star.clone()],
            token_ids: HashMap::from([(star, STAR_TOKEN)]),
            token_flags: vec![0],
            arena: Vec::new(),
            nodes: Vec::new(),
            node_index: HashIndex::default(),
            bases: HashMap::new(),
            aliases: HashMap::new(),
            slot_index: HashIndex::default(),
            slots: Vec::new(),
            slot_members: Vec::new(),
            free_members: Vec::new(),
        }
    }

    /// Adds base shapes (already-known ids are ignored). Returns every
    /// (member id, group id) pair whose group changed or is new, sorted,
    /// so the caller can persist it.
    pub fn add<I: IntoIterator<Item = Shape>>(
        &mut self,
        shapes: I,
    ) -> Vec<(SignatureId, SignatureId)> {
        let mut pending = Vec::new();
        let mut touched = Vec::new();
        let mut tokens = Vec::new();
        for shape in shapes {
            if self.bases.contains_key(&shape.id) {
                continue;
            }
            tokens.clear();
            for text in shape.template.split(' ') {
                let token = self.token(text);
                tokens.push(token);
            }
            let (node, new) = self.intern(&tokens);
            if new {
                pending.push(node);
            }
            let n = &mut self.nodes[node as usize];
            if n.id.is_none() {
                n.id = Some(shape.id);
            } else {
                self.aliases.entry(node).or_default().push((shape.id, None));
            }
            self.bases.insert(shape.id, node);
            let root = self.find_mut(node);
            let r = &mut self.nodes[root as usize];
            r.min_id = Some(r.min_id.map_or(shape.id, |m| m.min(shape.id)));
            touched.push(root);
        }
        while let Some(node) = pending.pop() {
            self.settle(node, &mut pending, &mut touched);
        }
        self.report(touched)
    }

    /// The group of a base id, `None` if the id was never added.
    pub fn group_of(&self, id: SignatureId) -> Option<SignatureId> {
        let node = *self.bases.get(&id)?;
        self.nodes[self.find(node) as usize].min_id
    }

    /// Base ids in a group (sorted), empty if `group` is not a group id.
    pub fn members(&self, group: SignatureId) -> Vec<SignatureId> {
        let Some(root) = self.root_of_group(group) else {
            return Vec::new();
        };
        let mut ids = Vec::new();
        self.each_in_ring(root, |node| {
            if let Some(id) = self.nodes[node as usize].id {
                ids.push(id);
                if let Some(more) = self.aliases.get(&node) {
                    ids.extend(more.iter().map(|&(id, _)| id));
                }
            }
        });
        ids.sort_unstable();
        ids
    }

    /// The group's template: its members' templates merged token by token
    /// (a token where members differ becomes `<*>`).
    pub fn template(&self, group: SignatureId) -> Option<String> {
        let root = self.root_of_group(group)?;
        let mut merged: Option<Vec<u32>> = None;
        self.each_in_ring(root, |node| {
            let n = &self.nodes[node as usize];
            if n.id.is_none() {
                return;
            }
            let tokens = self.tokens_of(node);
            match &mut merged {
                None => merged = Some(tokens.to_vec()),
                Some(m) => {
                    for (mine, &theirs) in m.iter_mut().zip(tokens) {
                        if *mine != theirs {
                            *mine = STAR_TOKEN;
                        }
                    }
                }
            }
        });
        let merged = merged?;
        let texts: Vec<&str> = merged
            .iter()
            .map(|&t| &*self.token_text[t as usize])
            .collect();
        Some(texts.join(" "))
    }

    /// The number of base ids held.
    pub fn len(&self) -> usize {
        self.bases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bases.is_empty()
    }

    fn root_of_group(&self, group: SignatureId) -> Option<u32> {
        let node = *self.bases.get(&group)?;
        let root = self.find(node);
        (self.nodes[root as usize].min_id == Some(group)).then_some(root)
    }

    fn each_in_ring(&self, root: u32, mut f: impl FnMut(u32)) {
        let mut node = root;
        loop {
            f(node);
            node = self.nodes[node as usize].ring;
            if node == root {
                break;
            }
        }
    }

    fn tokens_of(&self, node: u32) -> &[u32] {
        let n = &self.nodes[node as usize];
        &self.arena[n.start as usize..(n.start + n.len) as usize]
    }

    fn token(&mut self, text: &str) -> u32 {
        if let Some(&id) = self.token_ids.get(text) {
            return id;
        }
        let id = self.token_text.len() as u32;
        let text: Arc<str> = Arc::from(text);
        let letters: Vec<u8> = text.bytes().filter(u8::is_ascii_alphabetic).collect();
        let mut flags = 0;
        if text.replace(STAR, "").chars().any(char::is_alphabetic) {
            flags |= CONSTANT;
        }
        if !letters.is_empty() && letters.iter().all(u8::is_ascii_uppercase) {
            flags |= UPPER;
        }
        self.token_text.push(text.clone());
        self.token_ids.insert(text, id);
        self.token_flags.push(flags);
        id
    }

    /// The node of a template, and whether it is new.
    fn intern(&mut self, tokens: &[u32]) -> (u32, bool) {
        let hash = template_hash(polynomial(tokens), tokens.len());
        let head = self.node_index.get(&hash).copied().unwrap_or(NONE);
        let mut at = head;
        while at != NONE {
            if self.tokens_of(at) == tokens {
                return (at, false);
            }
            at = self.nodes[at as usize].next_same;
        }
        let node = self.nodes.len() as u32;
        self.nodes.push(Node {
            start: self.arena.len() as u32,
            len: tokens.len() as u32,
            next_same: head,
            parent: node,
            size: 1,
            ring: node,
            min_id: None,
            id: None,
            reported: None,
        });
        self.arena.extend_from_slice(tokens);
        self.node_index.insert(hash, node);
        (node, true)
    }

    /// Puts a new template in its slots, firing those it completes.
    fn settle(&mut self, node: u32, pending: &mut Vec<u32>, touched: &mut Vec<u32>) {
        let len = self.nodes[node as usize].len as usize;
        if !(2..=MAX_MERGE_TOKENS).contains(&len) {
            return;
        }
        let mut buf = [0u32; MAX_MERGE_TOKENS];
        buf[..len].copy_from_slice(self.tokens_of(node));
        let tokens = &buf[..len];
        let constants = tokens
            .iter()
            .filter(|&&t| self.token_flags[t as usize] & CONSTANT != 0)
            .count();
        let poly = polynomial(tokens);
        let mut power = 1u64;
        for (k, &token) in tokens.iter().enumerate() {
            let this_power = power;
            power = power.wrapping_mul(BASE);
            if token == STAR_TOKEN {
                continue;
            }
            let flags = self.token_flags[token as usize];
            if constants - usize::from(flags & CONSTANT != 0) < MIN_CONSTANTS {
                continue;
            }
            let hash = slot_hash(poly, this_power, token, k, len);
            let mixed_case = flags & UPPER == 0;
            let Some(slot) = self.find_slot(hash, k, tokens) else {
                let head = self.slot_index.get(&hash).copied().unwrap_or(NONE);
                self.slot_index.insert(hash, self.slots.len() as u32);
                self.slots.push(Slot {
                    rep: node,
                    k: k as u16,
                    fired: false,
                    mixed_case,
                    next_same: head,
                    members: NONE,
                });
                continue;
            };
            let s = &mut self.slots[slot as usize];
            if s.fired {
                let key = s.rep;
                self.union(node, key, touched);
                continue;
            }
            s.mixed_case |= mixed_case;
            if s.members == NONE {
                s.members = match self.free_members.pop() {
                    Some(i) => i,
                    None => {
                        self.slot_members.push(Vec::new());
                        (self.slot_members.len() - 1) as u32
                    }
                };
            }
            let list = &mut self.slot_members[s.members as usize];
            list.push(node);
            if 1 + list.len() < MIN_VALUES || !s.mixed_case {
                continue;
            }
            // Fire: the key joins the templates, the slot's templates its
            // group.
            let members = std::mem::take(list);
            self.free_members.push(s.members);
            s.members = NONE;
            s.fired = true;
            let first = s.rep;
            let mut key = buf;
            key[k] = STAR_TOKEN;
            let (key_node, new) = self.intern(&key[..len]);
            if new {
                pending.push(key_node);
            }
            self.slots[slot as usize].rep = key_node;
            self.union(first, key_node, touched);
            for m in members {
                self.union(m, key_node, touched);
            }
        }
    }

    fn find_slot(&self, hash: u64, k: usize, tokens: &[u32]) -> Option<u32> {
        let mut at = self.slot_index.get(&hash).copied().unwrap_or(NONE);
        while at != NONE {
            let s = &self.slots[at as usize];
            if s.k as usize == k {
                let rep = self.tokens_of(s.rep);
                if rep.len() == tokens.len()
                    && rep
                        .iter()
                        .zip(tokens)
                        .enumerate()
                        .all(|(i, (a, b))| i == k || a == b)
                {
                    return Some(at);
                }
            }
            at = s.next_same;
        }
        None
    }

    fn find(&self, mut node: u32) -> u32 {
        while self.nodes[node as usize].parent != node {
            node = self.nodes[node as usize].parent;
        }
        node
    }

    fn find_mut(&mut self, mut node: u32) -> u32 {
        loop {
            let parent = self.nodes[node as usize].parent;
            if parent == node {
                return node;
            }
            let grand = self.nodes[parent as usize].parent;
            self.nodes[node as usize].parent = grand;
            node = grand;
        }
    }

    fn union(&mut self, a: u32, b: u32, touched: &mut Vec<u32>) {
        let (a, b) = (self.find_mut(a), self.find_mut(b));
        if a == b {
            return;
        }
        let (big, small) = if self.nodes[a as usize].size >= self.nodes[b as usize].size {
            (a, b)
        } else {
            (b, a)
        };
        let (small_size, small_min, small_ring) = {
            let s = &mut self.nodes[small as usize];
            s.parent = big;
            (s.size, s.min_id, s.ring)
        };
        let g = &mut self.nodes[big as usize];
        g.size += small_size;
        g.min_id = match (g.min_id, small_min) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
        // Splice the two rings.
        let big_ring = std::mem::replace(&mut g.ring, small_ring);
        self.nodes[small as usize].ring = big_ring;
        touched.push(big);
    }

    /// The (member, group) pairs of the touched groups that changed.
    fn report(&mut self, touched: Vec<u32>) -> Vec<(SignatureId, SignatureId)> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for node in touched {
            let root = self.find_mut(node);
            if !seen.insert(root) {
                continue;
            }
            let Some(group) = self.nodes[root as usize].min_id else {
                continue;
            };
            let mut at = root;
            loop {
                let n = &mut self.nodes[at as usize];
                if let Some(id) = n.id {
                    if n.reported != Some(group) {
                        n.reported = Some(group);
                        out.push((id, group));
                    }
                    if let Some(more) = self.aliases.get_mut(&at) {
                        for (alias, reported) in more {
                            if *reported != Some(group) {
                                *reported = Some(group);
                                out.push((*alias, group));
                            }
                        }
                    }
                }
                at = self.nodes[at as usize].ring;
                if at == root {
                    break;
                }
            }
        }
        out.sort_unstable();
        out
    }
}
