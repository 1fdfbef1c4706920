//! Turning one line's bytes into text.
//!
//! Linux runs write UTF-8; Windows runs write the console code page, which the
//! platform reads as Windows-1252. The choice is made per line rather than per
//! file so that a file can be parsed in chunks without looking ahead, and so that
//! one stray byte does not re-decode every other (valid UTF-8) line of the file.

use std::borrow::Cow;

/// Decodes one line's bytes (without line ending): UTF-8 when valid, else Windows-1252 via encoding_rs.
///
/// Never fails: Windows-1252 maps every byte to some character (the five
/// undefined bytes become the C1 control with the same number, as WHATWG says).
pub fn decode_line(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        // `decode_without_bom_handling` so a line that happens to start with the
        // bytes of a BOM keeps them as characters: the message is never cut.
        Err(_) => {
            encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(bytes)
                .0
        }
    }
}
