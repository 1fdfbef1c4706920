//! The base signature of one message: a pure function of its text.
//!
//! The message (cut to [`MAX_SIGNATURE_BYTES`]) is split on whitespace and
//! each token is masked by five rewrites, in this order, each reading the
//! previous one's output:
//!
//! 1. UUIDs (`8-4-4-4-12` hex digits) anywhere in the token → `<*>`;
//!    a token that is a weekday or month name (`Mon`, `Jan`) → `<*>`.
//! 2. Paths and URLs (only in a token with `/` or `\`): from the token's
//!    start or after one of `=:("'[`, a `scheme://`, `/`, `./`, `../`,
//!    `~/` or `C:\` up to the next of `[](){}<>"',` → `<*>`; anywhere,
//!    three or more `/`-separated words (`a/b/c`) → `<*>`.
//! 3. `key=value`: the value after `=`, up to the next of `=,;[]()` → `<*>`.
//! 4. Runs of ASCII letters and digits (with a leading sign) holding a
//!    digit: → `<*>` when the run starts with a digit (`184`, `0x7ffd`,
//!    `5d2f…`) or is six or more hex digits (`deadbeef1`); `libfoo2` stays.
//! 5. `<*>`s separated only by `.:,/_-` → one `<*>` (`<*>.<*>:<*>`, an
//!    address, a time, a version).
//!
//! Before these, four or more tokens in a row that are each one byte in hex
//! (`00 25 4a 6f`, a hex dump) → `<*>` each.
//!
//! A token that masks to `<*>` right after another one is dropped, so a
//! variable number of variable words is one `<*>`. The template is the
//! tokens joined by one space, and the id the stable hash of the template.
//!
//! Each rewrite is a hand-written scan (these are the regular expressions
//! of the prototype the rules were tuned with, rewritten so that a token
//! without digits, `/`, `=` or a long `-` run is passed through untouched):
//! [`signature_of`] writes the tokens into a buffer kept per thread and
//! hashes it, with no allocation after a thread's first call.

use std::cell::RefCell;

use super::{Shape, SignatureId};

/// Bytes of a message the signature reads; the rest is ignored, so the
/// cost and the template's size are bounded for a line of any length.
pub const MAX_SIGNATURE_BYTES: usize = 1024;

/// The variable part of a template.
pub(super) const STAR: &str = "<*>";

/// The base id of a message: the stable hash of its template (equal to
/// `shape_of(message).id`, without allocating: the template is built in a
/// buffer kept per thread).
pub fn signature_of(message: &str) -> SignatureId {
    compute_signature(message)
}

/// The id of a message, computed.
fn compute_signature(message: &str) -> SignatureId {
    with_template(|template| {
        template.clear();
        with_scratch(|scratch| {
            for_each_token(message, scratch, |token| {
                if !template.is_empty() {
                    template.push(' ');
                }
                template.push_str(token);
            })
        });
        template_id(template)
    })
}

/// The template of a message (its masked tokens joined by one space) and
/// its base id.
pub fn shape_of(message: &str) -> Shape {
    let mut template = String::new();
    with_scratch(|scratch| {
        for_each_token(message, scratch, |token| {
            if !template.is_empty() {
                template.push(' ');
            }
            template.push_str(token);
        })
    });
    Shape {
        id: template_id(&template),
        template,
    }
}

/// The id of a template: a 64-bit hash of its UTF-8 bytes, read eight at
/// a time, then the splitmix64 finalizer.
///
/// Ids are stored and compared across versions and machines, so the hash
/// is fixed here rather than taken from std (whose `DefaultHasher` may
/// change); changing it changes every id (`tests.rs` pins a few). Each
/// little-endian word (the last one padded with zeros) is mixed in by an
/// xor, a multiplication by an odd constant and a rotation, a bijection of
/// the state for a given word; the length is mixed in first, so padding
/// cannot make two lengths collide, and the finalizer (a bijection too)
/// spreads every bit. Eight bytes a step made indexing measurably cheaper
/// than FNV-1a's byte a step. The first 8 bytes of a SHA-256 were measured
/// too (`benches/parse.rs`, group `signature`): twice the time even with
/// the CPU's SHA instructions. This hash resists no one looking for a
/// collision on purpose: a line crafted to share another's id is counted as
/// that signature.
pub fn template_id(template: &str) -> SignatureId {
    SignatureId(hash_bytes(template.as_bytes()))
}

/// The hash of [`template_id`].
fn hash_bytes(bytes: &[u8]) -> u64 {
    const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;
    let step = |h: u64, word: u64| (h ^ word).wrapping_mul(MULTIPLIER).rotate_left(29);
    let mut h = step(0xcbf2_9ce4_8422_2325, bytes.len() as u64);
    let mut words = bytes.chunks_exact(8);
    for chunk in &mut words {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = step(h, u64::from_le_bytes(word));
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        h = step(h, u64::from_le_bytes(word));
    }
    splitmix64_finalize(h)
}

/// The output function of splitmix64 (Steele, Lea, Flood 2014).
fn splitmix64_finalize(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Two buffers the rewrites of a token alternate between.
struct Scratch {
    cur: String,
    out: String,
}

impl Scratch {
    const fn new() -> Scratch {
        Scratch {
            cur: String::new(),
            out: String::new(),
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = const { RefCell::new(Scratch::new()) };
    static TEMPLATE: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Runs `f` on the thread's template buffer.
fn with_template<R>(f: impl FnOnce(&mut String) -> R) -> R {
    with_local(&TEMPLATE, String::new, f)
}

fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    with_local(&SCRATCH, Scratch::new, f)
}

/// Runs `f` on the thread's value in `key`, or on a `fresh` one of its own
/// should the thread's be in use (a reentrant call) or gone (thread-local
/// storage being torn down).
fn with_local<T: 'static, R>(
    key: &'static std::thread::LocalKey<RefCell<T>>,
    fresh: impl FnOnce() -> T,
    f: impl FnOnce(&mut T) -> R,
) -> R {
    let mut f = Some(f);
    let done = key.try_with(|cell| match cell.try_borrow_mut() {
        Ok(mut value) => f.take().map(|f| f(&mut value)),
        Err(_) => None,
    });
    match (done, f) {
        (Ok(Some(r)), _) => r,
        (_, Some(f)) => f(&mut fresh()),
        (_, None) => unreachable!("the closure ran but returned nothing"),
    }
}

/// The first `MAX_SIGNATURE_BYTES` of `message`, cut on a char boundary.
fn cut(message: &str) -> &str {
    if message.len() <= MAX_SIGNATURE_BYTES {
        return message;
    }
    let mut end = MAX_SIGNATURE_BYTES;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

/// Calls `emit` with each masked token of the message, in order, a `<*>`
/// right after a `<*>` left out.
fn for_each_token(message: &str, scratch: &mut Scratch, mut emit: impl FnMut(&str)) {
    let mut previous_star = false;
    let mut words = Words {
        text: cut(message),
        pos: 0,
    };
    // Tokens left of a hex dump being masked.
    let mut dump_left = 0usize;
    while let Some((token, flags)) = words.next_word() {
        if dump_left == 0 && is_hex_byte(token) {
            let run = 1 + hex_bytes_after(words);
            if run >= MIN_DUMP_BYTES {
                dump_left = run;
            }
        }
        let masked = if dump_left > 0 {
            dump_left -= 1;
            STAR
        } else {
            mask_token(token, flags, scratch)
        };
        let star = masked == STAR;
        if !(star && previous_star) {
            emit(masked);
        }
        previous_star = star;
    }
}

/// Bytes written as two hex digits in a row that make a hex dump
/// (`00 25 4a 6f`): fewer could be words (`de`, `be`, `ad`).
const MIN_DUMP_BYTES: usize = 4;

/// Whether a token is one byte in hex (`4a`, `FF`).
fn is_hex_byte(token: &str) -> bool {
    token.len() == 2 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// How many tokens in a row from where `words` stands are hex bytes.
fn hex_bytes_after(mut words: Words<'_>) -> usize {
    let mut n = 0;
    while let Some((token, _)) = words.next_word() {
        if !is_hex_byte(token) {
            break;
        }
        n += 1;
    }
    n
}

/// The whitespace-separated words of a text (Unicode whitespace, and the
/// ASCII separators `\x1c`–`\x1f` as Python's `str.split` has them).
#[derive(Clone, Copy)]
struct Words<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Words<'a> {
    /// The next word, with the [`BYTE_FLAGS`] of its bytes or-ed.
    fn next_word(&mut self) -> Option<(&'a str, u8)> {
        let n = self.text.len();
        let bytes = self.text.as_bytes();
        while self.pos < n {
            let f = BYTE_FLAGS[usize::from(bytes[self.pos])];
            if f & SEPARATOR != 0 {
                self.pos += 1;
            } else if f & NON_ASCII != 0 {
                match self.separator_len(self.pos) {
                    0 => break,
                    len => self.pos += len,
                }
            } else {
                break;
            }
        }
        if self.pos >= n {
            return None;
        }
        let start = self.pos;
        let mut flags = 0;
        while self.pos < n {
            let b = bytes[self.pos];
            let f = BYTE_FLAGS[usize::from(b)];
            if f & SEPARATOR != 0 {
                break;
            }
            if f & NON_ASCII != 0 {
                if self.separator_len(self.pos) > 0 {
                    break;
                }
                self.pos += utf8_len(b);
            } else {
                self.pos += 1;
            }
            flags |= f;
        }
        Some((&self.text[start..self.pos], flags))
    }

    /// The length of the (non-ASCII) separator at `i`, 0 if none.
    fn separator_len(&self, i: usize) -> usize {
        match self.text[i..].chars().next() {
            Some(c) if c.is_whitespace() => c.len_utf8(),
            _ => 0,
        }
    }
}

/// The length of the UTF-8 sequence led by `lead`.
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xf0.. => 4,
        0xe0.. => 3,
        0xc0.. => 2,
        _ => 1,
    }
}

const HAS_DIGIT: u8 = 1;
const HAS_SLASH: u8 = 2;
const HAS_EQUALS: u8 = 4;
const HAS_DASH: u8 = 8;
const HAS_ANGLE: u8 = 16;
const SEPARATOR: u8 = 32;
const NON_ASCII: u8 = 64;

/// Which rewrites a byte may trigger, and whether it separates words (or
/// may, being part of a non-ASCII char).
const BYTE_FLAGS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0x80;
    while i < 0x100 {
        t[i] = NON_ASCII;
        i += 1;
    }
    let mut i = b'\t';
    while i <= b'\r' {
        t[i as usize] = SEPARATOR;
        i += 1;
    }
    let mut i = 0x1c;
    while i <= 0x20 {
        t[i] = SEPARATOR;
        i += 1;
    }
    let mut d = b'0';
    while d <= b'9' {
        t[d as usize] = HAS_DIGIT;
        d += 1;
    }
    t[b'/' as usize] = HAS_SLASH;
    t[b'\\' as usize] = HAS_SLASH;
    t[b'=' as usize] = HAS_EQUALS;
    t[b'-' as usize] = HAS_DASH;
    t[b'<' as usize] = HAS_ANGLE;
    t
};

const UUID_LEN: usize = 36;

/// One token (with the [`BYTE_FLAGS`] of its bytes), masked: `token`
/// itself when no rewrite applies, else a view of the scratch buffer.
fn mask_token<'a>(token: &'a str, flags: u8, scratch: &'a mut Scratch) -> &'a str {
    if is_date_word(token) {
        return STAR;
    }
    let uuid = flags & HAS_DASH != 0 && token.len() >= UUID_LEN;
    if flags & (HAS_DIGIT | HAS_SLASH | HAS_EQUALS | HAS_ANGLE) == 0 && !uuid {
        return token;
    }
    let Scratch { cur, out } = scratch;
    let steps: [(bool, Rewrite); 4] = [
        (uuid, mask_uuids),
        (flags & HAS_SLASH != 0, mask_paths),
        (flags & HAS_EQUALS != 0, mask_values),
        (flags & HAS_DIGIT != 0, mask_runs),
    ];
    let mut in_cur = false;
    for (on, rewrite) in steps {
        if on {
            in_cur |= apply(rewrite, token, in_cur, cur, out);
        }
    }
    // Only a rewrite or a `<` in the token makes a `<*>` to join.
    if in_cur || flags & HAS_ANGLE != 0 {
        in_cur |= apply(join_stars, token, in_cur, cur, out);
    }
    if in_cur {
        cur
    } else {
        token
    }
}

/// A rewrite of a token: writes the result to its second argument and
/// returns `true` if it changed anything, else returns `false`.
type Rewrite = fn(&str, &mut String) -> bool;

/// Applies `rewrite` to the token so far (`cur` if `in_cur`, else
/// `token`), leaving the result in `cur`; whether it changed anything.
fn apply(rewrite: Rewrite, token: &str, in_cur: bool, cur: &mut String, out: &mut String) -> bool {
    let input: &str = if in_cur { cur } else { token };
    if rewrite(input, out) {
        std::mem::swap(cur, out);
        true
    } else {
        false
    }
}

fn is_date_word(token: &str) -> bool {
    token.len() == 3
        && matches!(
            token,
            "Mon"
                | "Tue"
                | "Wed"
                | "Thu"
                | "Fri"
                | "Sat"
                | "Sun"
                | "Jan"
                | "Feb"
                | "Mar"
                | "Apr"
                | "May"
                | "Jun"
                | "Jul"
                | "Aug"
                | "Sep"
                | "Oct"
                | "Nov"
                | "Dec"
        )
}

/// Writes `input` with byte ranges replaced by `<*>` into `out`, lazily:
/// nothing is written until the first replacement.
struct Rewriter<'a, 'o> {
    input: &'a str,
    out: &'o mut String,
    copied: usize,
    changed: bool,
}

impl<'a, 'o> Rewriter<'a, 'o> {
    fn new(input: &'a str, out: &'o mut String) -> Self {
        Rewriter {
            input,
            out,
            copied: 0,
            changed: false,
        }
    }

    /// Replaces `input[start..end]` (char boundaries, after the last
    /// replacement) by `<*>`.
    fn star(&mut self, start: usize, end: usize) {
        if !self.changed {
            self.out.clear();
            self.changed = true;
        }
        self.out.push_str(&self.input[self.copied..start]);
        self.out.push_str(STAR);
        self.copied = end;
    }

    fn finish(self) -> bool {
        if self.changed {
            self.out.push_str(&self.input[self.copied..]);
        }
        self.changed
    }
}

const PATH_END: u8 = 1;
const WORD: u8 = 2;
const VALUE_END: u8 = 4;
const STAR_JOINER: u8 = 8;

/// ASCII classes of the rewrites (a table: these loops run on every byte
/// of a path or a value).
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 128 {
        let c = i as u8;
        if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-') {
            t[i] |= WORD;
        }
        if matches!(
            c,
            b'[' | b']' | b'(' | b')' | b'{' | b'}' | b'<' | b'>' | b'"' | b'\'' | b','
        ) {
            t[i] |= PATH_END;
        }
        if matches!(c, b'=' | b',' | b';' | b'[' | b']' | b'(' | b')') {
            t[i] |= VALUE_END;
        }
        if matches!(c, b'.' | b':' | b',' | b'/' | b'_' | b'-') {
            t[i] |= STAR_JOINER;
        }
        i += 1;
    }
    t
};

/// Step 1: `[0-9a-fA-F]{8}-{4}-{4}-{4}-{12}` anywhere, leftmost first.
fn mask_uuids(input: &str, out: &mut String) -> bool {
    let b = input.as_bytes();
    let mut w = Rewriter::new(input, out);
    // A UUID at `p` has its first `-` at `p + 8`: only those are tried.
    let mut dash = 8;
    while dash + UUID_LEN - 8 <= b.len() {
        if b[dash] == b'-' && is_uuid(&b[dash - 8..dash - 8 + UUID_LEN]) {
            w.star(dash - 8, dash - 8 + UUID_LEN);
            dash += UUID_LEN;
        } else {
            dash += 1;
        }
    }
    w.finish()
}

fn is_uuid(b: &[u8]) -> bool {
    b.iter().enumerate().all(|(i, &c)| match i {
        8 | 13 | 18 | 23 => c == b'-',
        _ => c.is_ascii_hexdigit(),
    })
}

/// Step 2: paths and URLs.
fn mask_paths(input: &str, out: &mut String) -> bool {
    let b = input.as_bytes();
    let n = b.len();
    let mut w = Rewriter::new(input, out);
    let mut p = 0;
    while p < n {
        let after_opener = p == 0 || matches!(b[p - 1], b'=' | b':' | b'(' | b'"' | b'\'' | b'[');
        if after_opener && path_prefix(b, p) {
            // A path runs to the next bracket, quote or comma.
            let mut end = p;
            while end < n && CLASS[usize::from(b[end])] & PATH_END == 0 {
                end += 1;
            }
            w.star(p, end);
            p = end;
            continue;
        }
        let run_end = word_run(input, p);
        if run_end > p {
            // `word/word/word…`: three or more words.
            let mut end = run_end;
            let mut parts = 1;
            while end < n && b[end] == b'/' {
                let next = word_run(input, end + 1);
                if next == end + 1 {
                    break;
                }
                parts += 1;
                end = next;
            }
            if parts >= 3 {
                w.star(p, end);
                p = end;
            } else {
                // The same run fails from any later start in it, and no
                // path starts inside it (a word char is no opener).
                p = run_end;
            }
            continue;
        }
        p += utf8_len(b[p]);
    }
    w.finish()
}

/// Whether a path starts at `p`: `letters://`, `/`, `./`, `../`, `~/` or
/// `X:\`.
fn path_prefix(b: &[u8], p: usize) -> bool {
    let rest = &b[p..];
    let letters = rest.iter().take_while(|c| c.is_ascii_alphabetic()).count();
    (letters > 0 && rest[letters..].starts_with(b"://"))
        || rest.starts_with(b"/")
        || rest.starts_with(b"./")
        || rest.starts_with(b"../")
        || rest.starts_with(b"~/")
        || (letters > 0 && rest[1..].starts_with(b":\\"))
}

/// The end of the run of word chars (letters, digits, `_`, `.`, `-`) from
/// `p`.
fn word_run(text: &str, mut p: usize) -> usize {
    let b = text.as_bytes();
    while p < b.len() {
        let c = b[p];
        if c < 0x80 {
            if CLASS[usize::from(c)] & WORD == 0 {
                break;
            }
            p += 1;
        } else {
            match text[p..].chars().next() {
                Some(ch) if ch.is_alphanumeric() => p += ch.len_utf8(),
                _ => break,
            }
        }
    }
    p
}

/// Step 3: the value of `key=value`, up to whitespace or one of `=,;[]()`.
fn mask_values(input: &str, out: &mut String) -> bool {
    let b = input.as_bytes();
    let n = b.len();
    let mut w = Rewriter::new(input, out);
    let mut p = 0;
    while p < n {
        if b[p] == b'=' {
            let start = p + 1;
            let mut end = start;
            while end < n && CLASS[usize::from(b[end])] & VALUE_END == 0 {
                end += 1;
            }
            if end > start {
                w.star(start, end);
                p = end;
                continue;
            }
        }
        p += 1;
    }
    w.finish()
}

/// Step 4: signed runs of ASCII letters and digits that start with a digit
/// or are six or more hex digits with one a digit.
fn mask_runs(input: &str, out: &mut String) -> bool {
    let b = input.as_bytes();
    let n = b.len();
    let mut w = Rewriter::new(input, out);
    let mut p = 0;
    while p < n {
        let c = b[p];
        let core = if matches!(c, b'-' | b'+') && p + 1 < n && b[p + 1].is_ascii_alphanumeric() {
            p + 1
        } else if c.is_ascii_alphanumeric() {
            p
        } else {
            p += 1;
            continue;
        };
        let mut end = core;
        let mut digit = false;
        let mut hex = true;
        while end < n && b[end].is_ascii_alphanumeric() {
            digit |= b[end].is_ascii_digit();
            hex &= b[end].is_ascii_hexdigit();
            end += 1;
        }
        if digit && (b[core].is_ascii_digit() || (hex && end - core >= 6)) {
            w.star(p, end);
        }
        p = end;
    }
    w.finish()
}

/// Step 5: `<*>` (`[.:,/_-]*<*>`)+ → `<*>`.
fn join_stars(input: &str, out: &mut String) -> bool {
    let b = input.as_bytes();
    let n = b.len();
    let mut w = Rewriter::new(input, out);
    let mut p = 0;
    while p < n {
        if b[p..].starts_with(b"<*>") {
            let mut end = p + 3;
            let mut joined = false;
            loop {
                let mut q = end;
                while q < n && CLASS[usize::from(b[q])] & STAR_JOINER != 0 {
                    q += 1;
                }
                if b[q..].starts_with(b"<*>") {
                    end = q + 3;
                    joined = true;
                } else {
                    break;
                }
            }
            if joined {
                w.star(p, end);
            }
            p = end;
            continue;
        }
        p += 1;
    }
    w.finish()
}
