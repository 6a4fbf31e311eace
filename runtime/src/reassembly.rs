//! TCP reassembly of the first bytes of one direction of a connection.
//!
//! Classification needs only a prefix of each stream (a DICOM association
//! request is at most a few KiB, rarely 16 KiB), so a [`StreamPrefix`]
//! keeps the in-order bytes from the start of the stream up to a fixed
//! limit and nothing beyond. Segments that arrive early wait in a small
//! pending map until the gap before them fills. Where segments overlap the
//! bytes that arrived first win (the choice most end hosts make, and the
//! one that cannot be used to rewrite what was already classified).
//!
//! Sequence numbers are taken relative to the SYN when one was seen, and to
//! the first data segment otherwise; data before that origin is dropped.

use std::collections::BTreeMap;

/// The in-order prefix of one direction of a TCP stream.
#[derive(Debug, Clone)]
pub struct StreamPrefix {
    /// Sequence number of the stream's first data byte, once known.
    origin: Option<u32>,
    /// Whether `origin` came from a SYN (and cannot be moved).
    origin_from_syn: bool,
    /// Contiguous bytes from the origin.
    bytes: Vec<u8>,
    /// Out-of-order segments keyed by offset from the origin.
    pending: BTreeMap<u32, Vec<u8>>,
    /// Bytes held in `pending`.
    pending_bytes: usize,
    /// Most bytes kept from the stream.
    limit: usize,
}

impl StreamPrefix {
    /// A prefix that keeps at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        StreamPrefix {
            origin: None,
            origin_from_syn: false,
            bytes: Vec::new(),
            pending: BTreeMap::new(),
            pending_bytes: 0,
            limit,
        }
    }

    /// The contiguous bytes reassembled so far.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether the prefix reached its limit.
    pub fn is_full(&self) -> bool {
        self.bytes.len() >= self.limit
    }

    /// Memory held by this prefix, for the flow table's bound.
    pub fn memory(&self) -> usize {
        self.bytes.capacity() + self.pending_bytes
    }

    /// Records a SYN with sequence number `seq`: data starts at `seq + 1`.
    pub fn syn(&mut self, seq: u32) {
        if self.origin_from_syn {
            return;
        }
        let origin = seq.wrapping_add(1);
        if self.origin.is_some_and(|old| old != origin) {
            // Data arrived before the SYN with a guessed origin: start over.
            self.bytes.clear();
            self.pending.clear();
            self.pending_bytes = 0;
        }
        self.origin = Some(origin);
        self.origin_from_syn = true;
    }

    /// Adds a segment's payload starting at sequence number `seq`.
    pub fn segment(&mut self, seq: u32, payload: &[u8]) {
        if payload.is_empty() || self.is_full() {
            return;
        }
        let origin = *self.origin.get_or_insert(seq);

        // Offset from the origin; a "negative" offset (wrapped past half the
        // sequence space) means the segment starts before the origin.
        let raw = seq.wrapping_sub(origin);
        let (offset, payload) = if raw > u32::MAX / 2 {
            let before = usize::try_from(raw.wrapping_neg()).unwrap_or(usize::MAX);
            match payload.get(before..) {
                Some(rest) if !rest.is_empty() => (0usize, rest),
                _ => return,
            }
        } else {
            (usize::try_from(raw).unwrap_or(usize::MAX), payload)
        };
        if offset >= self.limit {
            return;
        }
        let keep = payload.len().min(self.limit - offset);
        let payload = payload.get(..keep).unwrap_or_default();

        if offset <= self.bytes.len() {
            self.append_from(offset, payload);
            self.drain_pending();
        } else if self.pending_bytes.saturating_add(payload.len()) <= self.limit.saturating_mul(2) {
            // Overlapping early segments may hold more than the limit in
            // total; twice the limit bounds them.
            // Safe: offset < limit, and limit fits the u32 keys we use.
            let key = u32::try_from(offset).unwrap_or(u32::MAX);
            let slot = self.pending.entry(key).or_default();
            if payload.len() > slot.len() {
                self.pending_bytes = self.pending_bytes - slot.len() + payload.len();
                *slot = payload.to_vec();
            }
        }
    }

    /// Appends the part of `payload` (starting at `offset`) not yet held.
    fn append_from(&mut self, offset: usize, payload: &[u8]) {
        let have = self.bytes.len();
        let skip = have.saturating_sub(offset);
        if let Some(new) = payload.get(skip..) {
            self.bytes.extend_from_slice(new);
        }
    }

    fn drain_pending(&mut self) {
        while let Some((&offset, _)) = self.pending.first_key_value() {
            let offset_usize = usize::try_from(offset).unwrap_or(usize::MAX);
            if offset_usize > self.bytes.len() {
                break;
            }
            if let Some(data) = self.pending.remove(&offset) {
                self.pending_bytes = self.pending_bytes.saturating_sub(data.len());
                self.append_from(offset_usize, &data);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn in_order_segments_concatenate() {
        let mut s = StreamPrefix::new(100);
        s.syn(1000);
        s.segment(1001, b"hello ");
        s.segment(1007, b"world");
        assert_eq!(s.bytes(), b"hello world");
    }

    #[test]
    fn out_of_order_segments_wait_for_the_gap() {
        let mut s = StreamPrefix::new(100);
        s.syn(u32::MAX - 2); // sequence numbers wrap inside the stream
        s.segment(u32::MAX.wrapping_add(5), b"world");
        s.segment(u32::MAX.wrapping_add(3), b"o ");
        assert_eq!(s.bytes(), b"");
        s.segment(u32::MAX - 1, b"hell");
        assert_eq!(s.bytes(), b"hello world");
    }

    #[test]
    fn retransmission_and_overlap_keep_first_bytes() {
        let mut s = StreamPrefix::new(100);
        s.syn(0);
        s.segment(1, b"abcdef");
        s.segment(1, b"abcdef");
        s.segment(4, b"XYZghi");
        assert_eq!(s.bytes(), b"abcdefghi");
        // An old segment starting before the origin contributes its tail.
        s.segment(0, b"?abcdefghijk");
        assert_eq!(s.bytes(), b"abcdefghijk");
    }

    #[test]
    fn limit_bounds_memory() {
        let mut s = StreamPrefix::new(8);
        s.syn(0);
        s.segment(1, b"0123456789");
        assert_eq!(s.bytes(), b"01234567");
        assert!(s.is_full());
        let mut far = StreamPrefix::new(8);
        far.syn(0);
        far.segment(1_000_000, b"x");
        assert!(!far.is_full());
        assert_eq!(far.memory(), 0);
        far.segment(1, b"abc");
        assert_eq!(far.bytes(), b"abc");
    }

    #[test]
    fn without_syn_the_first_segment_sets_the_origin() {
        let mut s = StreamPrefix::new(100);
        s.segment(500, b"GET / ");
        s.segment(506, b"HTTP/1.1");
        assert_eq!(s.bytes(), b"GET / HTTP/1.1");
    }

    #[test]
    fn late_syn_resets_a_guessed_origin() {
        let mut s = StreamPrefix::new(100);
        s.segment(506, b"world");
        s.syn(499);
        s.segment(500, b"hello ");
        s.segment(506, b"world");
        assert_eq!(s.bytes(), b"hello world");
    }

    proptest! {
        /// Any arrival order, with duplicates, rebuilds the stream prefix.
        #[test]
        fn any_order_rebuilds_the_stream(
            data in proptest::collection::vec(any::<u8>(), 1..600),
            cuts in proptest::collection::vec(1usize..600, 0..12),
            order in proptest::collection::vec(any::<u32>(), 0..30),
            isn in any::<u32>(),
        ) {
            let mut bounds: Vec<usize> = cuts.into_iter().filter(|c| *c < data.len()).collect();
            bounds.push(0);
            bounds.push(data.len());
            bounds.sort_unstable();
            bounds.dedup();
            let mut segments: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
            // Shuffle deterministically and duplicate some segments.
            for (i, r) in order.iter().enumerate() {
                let n = segments.len();
                segments.swap(i % n, (*r as usize) % n);
                if r % 3 == 0 {
                    let extra = segments[(*r as usize) % n];
                    segments.push(extra);
                }
            }
            let mut s = StreamPrefix::new(400);
            s.syn(isn);
            for (start, end) in segments {
                s.segment(isn.wrapping_add(1).wrapping_add(start as u32), &data[start..end]);
            }
            let want = &data[..data.len().min(400)];
            prop_assert_eq!(s.bytes(), want);
        }
    }
}
