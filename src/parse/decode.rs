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

/// How a file's lines are encoded, decided by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// UTF-8, a line that is not being read as Windows-1252 ([`decode_line`]).
    #[default]
    Utf8,
    Utf16Le,
    Utf16Be,
}

/// The file's encoding and the length of its byte-order mark, from its
/// first bytes: a UTF-16 log (PowerShell's `Out-File` writes one) carries
/// a BOM, and without one a log is UTF-8 or Windows-1252, line by line. A
/// UTF-8 BOM is skipped, not shown as the first line's first characters.
pub fn detect_encoding(first: &[u8]) -> (Encoding, usize) {
    match first {
        [0xEF, 0xBB, 0xBF, ..] => (Encoding::Utf8, 3),
        [0xFF, 0xFE, ..] => (Encoding::Utf16Le, 2),
        [0xFE, 0xFF, ..] => (Encoding::Utf16Be, 2),
        _ => (Encoding::Utf8, 0),
    }
}

impl Encoding {
    /// Bytes per code unit, and per newline.
    pub fn unit(self) -> usize {
        match self {
            Encoding::Utf8 => 1,
            Encoding::Utf16Le | Encoding::Utf16Be => 2,
        }
    }

    fn char_bytes(self, c: u8) -> [u8; 2] {
        match self {
            Encoding::Utf16Be => [0, c],
            _ => [c, 0],
        }
    }

    /// Where the first line of `bytes` ends: the offset of its newline, a
    /// whole code unit from the start.
    pub fn line_end(self, bytes: &[u8]) -> Option<usize> {
        match self {
            Encoding::Utf8 => memchr::memchr(b'\n', bytes),
            _ => {
                let nl = self.char_bytes(b'\n');
                bytes.chunks_exact(2).position(|u| u == nl).map(|i| i * 2)
            }
        }
    }

    /// The line without the "\r" of a CRLF ending.
    pub fn strip_cr(self, raw: &[u8]) -> &[u8] {
        match self {
            Encoding::Utf8 => raw.strip_suffix(b"\r").unwrap_or(raw),
            _ => raw.strip_suffix(&self.char_bytes(b'\r')).unwrap_or(raw),
        }
    }

    /// The first `max` bytes of a line at most, cut between characters.
    pub fn cut(self, raw: &[u8], max: usize) -> &[u8] {
        if raw.len() <= max {
            return raw;
        }
        let mut end = max - max % self.unit();
        if self == Encoding::Utf8 {
            // Back to the start of a UTF-8 character, so that a valid line
            // stays valid (a Windows-1252 line loses at most 3 bytes more).
            let mut back = 0;
            while back < 3 && end > 0 && raw[end] & 0xC0 == 0x80 {
                end -= 1;
                back += 1;
            }
        }
        &raw[..end]
    }

    /// One line's text.
    pub fn decode(self, raw: &[u8]) -> Cow<'_, str> {
        match self {
            Encoding::Utf8 => decode_line(raw),
            Encoding::Utf16Le => encoding_rs::UTF_16LE.decode_without_bom_handling(raw).0,
            Encoding::Utf16Be => encoding_rs::UTF_16BE.decode_without_bom_handling(raw).0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    #[test]
    fn byte_order_marks_decide_the_encoding() {
        assert_eq!(detect_encoding(b"\xEF\xBB\xBFok"), (Encoding::Utf8, 3));
        assert_eq!(detect_encoding(b"\xFF\xFEo\0"), (Encoding::Utf16Le, 2));
        assert_eq!(detect_encoding(b"\xFE\xFF\0o"), (Encoding::Utf16Be, 2));
        assert_eq!(detect_encoding(b"ok"), (Encoding::Utf8, 0));
        assert_eq!(detect_encoding(b""), (Encoding::Utf8, 0));
    }

    #[test]
    fn utf16_lines_end_on_a_whole_unit() {
        let le = utf16le("a\u{0a00}b\r\nc");
        // U+0A00 is the bytes 00 0A in LE: not a newline.
        let end = Encoding::Utf16Le.line_end(&le);
        assert_eq!(end, Some(8));
        let line = Encoding::Utf16Le.strip_cr(&le[..8]);
        assert_eq!(Encoding::Utf16Le.decode(line), "a\u{0a00}b");
    }

    #[test]
    fn a_cut_keeps_whole_characters() {
        let text = "é".repeat(10);
        let cut = Encoding::Utf8.cut(text.as_bytes(), 5);
        assert_eq!(decode_line(cut), "éé");
        assert_eq!(Encoding::Utf16Le.cut(&[1, 0, 2, 0, 3], 3), &[1, 0]);
    }
}
