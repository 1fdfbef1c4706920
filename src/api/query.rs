//! Query strings as sent. Every endpoint reads its query through
//! [`RawParams`], so two rules hold for all of them alike, in one place
//! ([`RawParams::values`]):
//!
//! * **repeats**: a parameter an endpoint reads may be given once; given
//!   twice it is a 400 naming it, whatever the values (a client that sends
//!   `limit=10&limit=20` has a bug, and guessing which one it meant would
//!   hide it). The list parameters [`LIST_PARAMS`] (`level`, `source`) are
//!   the exception: their repeats are merged as if comma-separated, as form
//!   encoders write arrays (`level=error&level=critical`).
//! * **encoding**: a `%` not followed by two hex digits, or percent-decoded
//!   bytes that are not UTF-8, is a 400 naming the parameter, not text to
//!   search for.
//!
//! Parameters an endpoint does not read are ignored however they are
//! written, as the contract says (`offset` aside).

use std::collections::BTreeMap;

/// The parameters whose repeated values are merged, as if comma-separated.
pub const LIST_PARAMS: [&str; 2] = ["level", "source"];

/// Query parameters as sent: every value of every name, and the names with
/// a value that is not validly encoded.
#[derive(Debug, Default)]
pub struct RawParams {
    values: BTreeMap<String, Vec<String>>,
    /// Name → what is wrong with the encoding of one of its values.
    malformed: BTreeMap<String, String>,
}

impl RawParams {
    pub fn parse(query: Option<&str>) -> RawParams {
        let mut params = RawParams::default();
        for pair in query.unwrap_or_default().split('&') {
            if pair.is_empty() {
                continue;
            }
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            // A name that cannot be decoded is not one any endpoint reads:
            // ignored, like every unknown parameter.
            let Ok(name) = decode(name) else {
                continue;
            };
            match decode(value) {
                Ok(v) => params.values.entry(name).or_default().push(v),
                Err(why) => {
                    params.malformed.entry(name).or_insert(why);
                }
            }
        }
        params
    }

    /// Every value of `name` under the two rules of this module: invalid
    /// encoding is an error, and so is a repeat, except for [`LIST_PARAMS`].
    /// The message is for `details.fields`.
    pub fn values(&self, name: &str) -> Result<&[String], String> {
        if let Some(why) = self.malformed.get(name) {
            return Err(why.clone());
        }
        let values = self.values.get(name).map_or(&[][..], Vec::as_slice);
        if values.len() > 1 && !LIST_PARAMS.contains(&name) {
            return Err(format!(
                "given more than once ({} times); give it once",
                values.len()
            ));
        }
        Ok(values)
    }

    /// Whether `name` was sent at all, however written.
    pub fn sent(&self, name: &str) -> bool {
        self.values.contains_key(name) || self.malformed.contains_key(name)
    }
}

/// Decodes one component of a query strictly, as
/// `application/x-www-form-urlencoded`: `+` is a space, `%` must start two
/// hex digits, and the bytes must be UTF-8. (A lenient decoder would search
/// for `%zz` or U+FFFD instead of what the client meant.)
pub(super) fn decode(raw: &str) -> Result<String, String> {
    if !raw.contains(['%', '+']) {
        return Ok(raw.to_owned());
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                match (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                    (Some(hi), Some(lo)) => {
                        out.push(hi << 4 | lo);
                        i += 3;
                    }
                    _ => return Err(
                        "invalid percent-encoding: '%' must be followed by two hexadecimal digits"
                            .into(),
                    ),
                }
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map_err(|_| "invalid percent-encoding: the decoded bytes are not UTF-8".into())
}

fn hex(digit: Option<&u8>) -> Option<u8> {
    let d = *digit?;
    // Not `from_str_radix`, which would take a sign.
    (d as char).to_digit(16).map(|v| v as u8)
}
