//! Checked byte reading shared by the protocol parsers: a cursor whose
//! every read returns `None` past the end instead of panicking.

/// A forward reader over a byte slice.
#[derive(Debug, Clone, Copy)]
pub struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Cursor { data, pos: 0 }
    }

    /// Bytes not yet read.
    pub fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or_default()
    }

    /// Bytes already read.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.rest().is_empty()
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let bytes = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(bytes)
    }

    /// Up to `n` bytes: all that remain when fewer do.
    pub fn take_up_to(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.rest().len());
        self.take(n).unwrap_or_default()
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }

    /// One byte.
    pub fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    /// A big-endian u16.
    pub fn be16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes(b.try_into().ok()?))
    }

    /// A big-endian 24-bit number.
    pub fn be24(&mut self) -> Option<u32> {
        let b = self.take(3)?;
        Some(u32::from_be_bytes([0, *b.first()?, *b.get(1)?, *b.get(2)?]))
    }

    /// A big-endian u32.
    pub fn be32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_be_bytes(b.try_into().ok()?))
    }

    /// A little-endian u16.
    pub fn le16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_le_bytes(b.try_into().ok()?))
    }
}

/// Whether `haystack` contains `needle`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

/// The first position of `needle` in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Text from bytes: lossy UTF-8, trimmed of spaces, NULs and control bytes.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .trim_matches(|c: char| c.is_whitespace() || c.is_control())
        .to_owned()
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Whether every byte is printable ASCII or common whitespace.
pub fn is_printable(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|b| (0x20..0x7f).contains(b) || matches!(b, b'\r' | b'\n' | b'\t'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_reads_stop_at_the_end() {
        let mut c = Cursor::new(&[1, 2, 3]);
        assert_eq!(c.be16(), Some(0x0102));
        assert_eq!(c.be16(), None);
        assert_eq!(c.u8(), Some(3));
        assert_eq!(c.u8(), None);
        assert!(c.is_empty());
        assert_eq!(Cursor::new(&[0xff; 3]).take(usize::MAX), None);
    }

    #[test]
    fn helpers() {
        assert_eq!(find(b"abcabc", b"ca"), Some(2));
        assert!(!contains(b"ab", b"abc"));
        assert_eq!(text(b"  CT_SCANNER \0\0"), "CT_SCANNER");
        assert_eq!(hex(&[0, 0xab]), "00ab");
        assert!(is_printable(b"GET /\r\n"));
        assert!(!is_printable(&[0x16, 3, 1]));
    }
}
