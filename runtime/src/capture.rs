//! Reading packet captures (pcap and pcapng) into timestamped link-layer
//! frames.
//!
//! The file format is plumbing, so it is parsed by the `pcap-parser` crate;
//! this module only turns its blocks into [`Frame`]s carrying the link type
//! they must be decoded with. A capture that ends in the middle of a block
//! (a truncated file) is not an error: the frames read so far are kept and
//! the truncation is counted.

use std::io::Read;

use pcap_parser::traits::PcapNGPacketBlock;
use pcap_parser::{Block, PcapBlockOwned, PcapError, create_reader};

/// Bytes the reader buffers at once; grown when a block is larger.
const READ_BUFFER: usize = 1 << 16;

/// Largest block we accept before calling the file corrupt.
const MAX_BLOCK: usize = 1 << 24;

/// One captured frame, borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Capture time in microseconds since the Unix epoch.
    pub ts_micros: u64,
    /// The link type (LINKTYPE_* value) the frame's bytes start with.
    pub linktype: i32,
    /// The captured bytes (possibly shorter than the packet on the wire).
    pub data: &'a [u8],
}

/// What reading one capture file met besides frames.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureReport {
    /// Frames handed to the callback.
    pub frames: u64,
    /// Packet blocks that referred to an interface never described.
    pub orphan_frames: u64,
    /// Whether the file ended in the middle of a block.
    pub truncated: bool,
}

/// Why a capture could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file is neither pcap nor pcapng.
    #[error("not a pcap or pcapng capture")]
    NotACapture,
    /// The underlying reader failed.
    #[error("cannot read the capture")]
    Read,
    /// A block could not be parsed; frames before it were delivered.
    #[error("corrupt capture block after {frames} frames")]
    Corrupt {
        /// Frames delivered before the corrupt block.
        frames: u64,
    },
}

/// Reads every frame of a pcap or pcapng stream, calling `on_frame` for
/// each one in file order.
pub fn read_capture<R, F>(reader: R, mut on_frame: F) -> Result<CaptureReport, CaptureError>
where
    R: Read + Send,
    F: FnMut(Frame<'_>),
{
    let mut pcap_reader = match create_reader(READ_BUFFER, reader) {
        Ok(r) => r,
        Err(PcapError::HeaderNotRecognized | PcapError::Eof | PcapError::UnexpectedEof) => {
            return Err(CaptureError::NotACapture);
        }
        Err(PcapError::Incomplete(_)) => return Err(CaptureError::NotACapture),
        Err(_) => return Err(CaptureError::Read),
    };

    let mut report = CaptureReport::default();
    // Legacy pcap: one link type and resolution for the whole file.
    let mut legacy_linktype = 1;
    let mut legacy_nanos = false;
    // pcapng: per interface (link type, ticks per second), reset per section.
    let mut interfaces: Vec<(i32, u64)> = Vec::new();
    let mut buffer_size = READ_BUFFER;

    loop {
        match pcap_reader.next() {
            Ok((consumed, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(header) => {
                        legacy_linktype = header.network.0;
                        legacy_nanos = header.is_nanosecond_precision();
                    }
                    PcapBlockOwned::Legacy(packet) => {
                        let sub = if legacy_nanos {
                            u64::from(packet.ts_usec) / 1000
                        } else {
                            u64::from(packet.ts_usec)
                        };
                        let ts_micros = u64::from(packet.ts_sec)
                            .saturating_mul(1_000_000)
                            .saturating_add(sub);
                        report.frames += 1;
                        on_frame(Frame {
                            ts_micros,
                            linktype: legacy_linktype,
                            data: packet.data,
                        });
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => interfaces.clear(),
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        let ticks = idb.ts_resolution().unwrap_or(1_000_000);
                        interfaces.push((idb.linktype.0, ticks.max(1)));
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        let Some(&(linktype, ticks)) = usize::try_from(epb.if_id)
                            .ok()
                            .and_then(|i| interfaces.get(i))
                        else {
                            report.orphan_frames += 1;
                            pcap_reader.consume(consumed);
                            continue;
                        };
                        let raw = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                        let ts_micros = ticks_to_micros(raw, ticks);
                        report.frames += 1;
                        on_frame(Frame {
                            ts_micros,
                            linktype,
                            data: epb.packet_data(),
                        });
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        let Some(&(linktype, _)) = interfaces.first() else {
                            report.orphan_frames += 1;
                            pcap_reader.consume(consumed);
                            continue;
                        };
                        report.frames += 1;
                        on_frame(Frame {
                            ts_micros: 0,
                            linktype,
                            data: spb.packet_data(),
                        });
                    }
                    PcapBlockOwned::NG(_) => {}
                }
                pcap_reader.consume(consumed);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(needed)) => {
                if pcap_reader.reader_exhausted() {
                    report.truncated = true;
                    break;
                }
                // A block larger than the buffer: grow it, within reason.
                let wanted = pcap_reader.data().len().saturating_add(needed);
                if wanted > buffer_size && buffer_size < MAX_BLOCK {
                    buffer_size = wanted.next_power_of_two().min(MAX_BLOCK);
                    if !pcap_reader.grow(buffer_size) {
                        return Err(CaptureError::Corrupt {
                            frames: report.frames,
                        });
                    }
                }
                if pcap_reader.refill().is_err() {
                    return Err(CaptureError::Read);
                }
            }
            Err(PcapError::UnexpectedEof) => {
                report.truncated = true;
                break;
            }
            Err(PcapError::ReadError) => return Err(CaptureError::Read),
            Err(_) => {
                return Err(CaptureError::Corrupt {
                    frames: report.frames,
                });
            }
        }
    }
    Ok(report)
}

/// Converts a pcapng timestamp in interface ticks to microseconds.
fn ticks_to_micros(raw: u64, ticks_per_second: u64) -> u64 {
    if ticks_per_second == 1_000_000 {
        return raw;
    }
    let wide = u128::from(raw) * 1_000_000 / u128::from(ticks_per_second);
    u64::try_from(wide).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{pcap_file, pcapng_file};

    type Frames = Vec<(u64, i32, Vec<u8>)>;

    fn collect(bytes: &[u8]) -> Result<(Frames, CaptureReport), CaptureError> {
        let mut frames = Vec::new();
        let report = read_capture(bytes, |f| {
            frames.push((f.ts_micros, f.linktype, f.data.to_vec()))
        })?;
        Ok((frames, report))
    }

    #[test]
    fn reads_legacy_pcap_frames_in_order() {
        let file = pcap_file(1, &[(1_500_000, vec![1, 2, 3]), (2_000_001, vec![4])]);
        let (frames, report) = collect(&file).unwrap();
        assert_eq!(
            frames,
            vec![(1_500_000, 1, vec![1, 2, 3]), (2_000_001, 1, vec![4])]
        );
        assert_eq!(report.frames, 2);
        assert!(!report.truncated);
    }

    #[test]
    fn reads_pcapng_with_interface_link_type() {
        let file = pcapng_file(113, &[(7, vec![9, 9]), (8, vec![1; 5])]);
        let (frames, _) = collect(&file).unwrap();
        assert_eq!(frames, vec![(7, 113, vec![9, 9]), (8, 113, vec![1; 5])]);
    }

    #[test]
    fn truncated_file_keeps_earlier_frames() {
        let mut file = pcap_file(1, &[(1, vec![1; 40]), (2, vec![2; 40])]);
        file.truncate(file.len() - 10);
        let (frames, report) = collect(&file).unwrap();
        assert_eq!(frames.len(), 1);
        assert!(report.truncated);
    }

    #[test]
    fn garbage_is_not_a_capture() {
        assert!(matches!(
            collect(b"GET / HTTP/1.1\r\n\r\nhello world, this is not a capture"),
            Err(CaptureError::NotACapture)
        ));
        assert!(matches!(collect(b""), Err(CaptureError::NotACapture)));
    }
}
