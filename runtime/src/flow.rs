//! The flow table: bidirectional TCP and UDP flows, the first bytes of each
//! direction, idle expiry and a hard memory bound.
//!
//! A flow is keyed by its two endpoints and transport, whichever way a
//! packet travels. Its client (initiator) is the sender of the SYN when one
//! was seen; otherwise a port heuristic decides (the side on a well-known
//! service port is the server). Each direction keeps a [`StreamPrefix`]
//! (TCP) or its first datagram (UDP), which is all classification needs.
//!
//! Bounds: at most `max_flows` flows and `max_buffered` bytes of stream
//! prefixes at once. When either is reached the least recently seen flows
//! are evicted (finished early and counted), so a flood of new flows costs
//! classification quality, never memory.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::packet::{Packet, Transport, tcp_flags};
use crate::proto::{FlowBytes, Identified, TransportKind, identify};
use crate::reassembly::StreamPrefix;

/// Limits of a flow table. The defaults suit `ward inspect` on one core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowConfig {
    /// Most flows tracked at once (default 65,536).
    pub max_flows: usize,
    /// Most bytes of stream prefixes held at once (default 256 MiB).
    pub max_buffered: usize,
    /// Bytes kept from the start of each direction (default 16 KiB plus a
    /// PDU header: a maximal DICOM association request).
    pub prefix_limit: usize,
    /// Microseconds without packets after which a flow ends (default 120 s).
    pub idle_timeout: u64,
    /// Idle time after which a closed (FIN/RST) TCP flow ends (default 5 s).
    pub closed_timeout: u64,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            max_flows: 65_536,
            max_buffered: 256 << 20,
            prefix_limit: 16 * 1024 + 6,
            idle_timeout: 120_000_000,
            closed_timeout: 5_000_000,
        }
    }
}

/// One end of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    /// Address.
    pub ip: IpAddr,
    /// Port.
    pub port: u16,
}

/// Why a flow ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowEnd {
    /// No packet for the idle timeout (or closed and quiet).
    Expired,
    /// Evicted to stay within the table's bounds.
    Evicted,
    /// The capture ended.
    Finished,
}

/// A flow and what was captured of it.
#[derive(Debug, Clone)]
pub struct Flow {
    /// Sequence number of the flow in this table, from 1.
    pub id: u64,
    /// TCP or UDP.
    pub transport: TransportKind,
    /// The initiator.
    pub client: Endpoint,
    /// The responder.
    pub server: Endpoint,
    /// The client's MAC address, when the link layer showed it.
    pub client_mac: Option<[u8; 6]>,
    /// The server's MAC address, when the link layer showed it.
    pub server_mac: Option<[u8; 6]>,
    /// First packet time (µs).
    pub first_seen: u64,
    /// Last packet time (µs).
    pub last_seen: u64,
    /// Packets client to server and server to client.
    pub packets: [u64; 2],
    /// Payload bytes client to server and server to client.
    pub bytes: [u64; 2],
    /// Whether a FIN or RST was seen.
    pub closed: bool,
    client_stream: StreamPrefix,
    server_stream: StreamPrefix,
    client_datagram: Vec<u8>,
    server_datagram: Vec<u8>,
}

impl Flow {
    /// The first bytes of each direction, as the classifier takes them.
    pub fn bytes_view(&self) -> FlowBytes<'_> {
        let (client, server) = match self.transport {
            TransportKind::Tcp => (self.client_stream.bytes(), self.server_stream.bytes()),
            TransportKind::Udp => (&self.client_datagram[..], &self.server_datagram[..]),
        };
        FlowBytes {
            transport: self.transport,
            client_port: self.client.port,
            server_port: self.server.port,
            client,
            server,
        }
    }

    /// Identifies the flow's protocol and attributes.
    pub fn identify(&self) -> Identified {
        identify(&self.bytes_view())
    }

    fn memory(&self) -> usize {
        self.client_stream.memory()
            + self.server_stream.memory()
            + self.client_datagram.capacity()
            + self.server_datagram.capacity()
    }
}

/// Counters of a flow table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowStats {
    /// Flows created.
    pub created: u64,
    /// Flows ended by idle expiry.
    pub expired: u64,
    /// Flows evicted to stay within bounds.
    pub evicted: u64,
    /// Packets that were neither TCP nor UDP (ICMP, fragments, ...).
    pub other_transport: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FlowKey {
    low: Endpoint,
    high: Endpoint,
    transport: TransportKind,
}

/// Ports that name a service: the side using one is the server.
fn is_service_port(port: u16) -> bool {
    matches!(
        port,
        20..=23 | 53 | 67 | 69 | 80 | 104 | 123 | 137..=139 | 161 | 162 | 389 | 443 | 445 | 514
            | 601 | 636 | 853 | 1900 | 2575 | 3389 | 3702 | 5353 | 5355 | 6514 | 8080 | 8443
            | 11112 | 24005 | 24105
    )
}

/// The flow table.
#[derive(Debug)]
pub struct FlowTable {
    config: FlowConfig,
    flows: HashMap<FlowKey, Flow>,
    buffered: usize,
    next_id: u64,
    last_sweep: u64,
    stats: FlowStats,
}

impl FlowTable {
    /// An empty table with the given limits.
    pub fn new(config: FlowConfig) -> Self {
        FlowTable {
            config,
            flows: HashMap::new(),
            buffered: 0,
            next_id: 1,
            last_sweep: 0,
            stats: FlowStats::default(),
        }
    }

    /// The table's counters.
    pub fn stats(&self) -> FlowStats {
        self.stats
    }

    /// Flows currently tracked.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// Whether no flow is tracked.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// Adds a packet at time `ts` (µs); flows that end meanwhile (expired
    /// or evicted) are pushed to `ended`.
    pub fn packet(&mut self, ts: u64, packet: &Packet<'_>, ended: &mut Vec<(Flow, FlowEnd)>) {
        let (transport, sport, dport, payload, tcp) = match &packet.transport {
            Transport::Tcp(seg) => (
                TransportKind::Tcp,
                seg.sport,
                seg.dport,
                seg.payload,
                Some((seg.seq, seg.flags)),
            ),
            Transport::Udp {
                sport,
                dport,
                payload,
            } => (TransportKind::Udp, *sport, *dport, *payload, None),
            Transport::Other { .. } => {
                self.stats.other_transport += 1;
                return;
            }
        };

        // Sweep idle flows about once a second of capture time.
        if ts.saturating_sub(self.last_sweep) >= 1_000_000 {
            self.last_sweep = ts;
            self.expire(ts, ended);
        }

        let src = Endpoint {
            ip: packet.src_ip,
            port: sport,
        };
        let dst = Endpoint {
            ip: packet.dst_ip,
            port: dport,
        };
        let key = if src <= dst {
            FlowKey {
                low: src,
                high: dst,
                transport,
            }
        } else {
            FlowKey {
                low: dst,
                high: src,
                transport,
            }
        };

        if !self.flows.contains_key(&key) {
            if self.flows.len() >= self.config.max_flows {
                self.evict(ended);
            }
            let from_client = match tcp {
                Some((_, flags)) if flags & tcp_flags::SYN != 0 => flags & tcp_flags::ACK == 0,
                _ => {
                    if is_service_port(dport) {
                        true
                    } else if is_service_port(sport) {
                        false
                    } else {
                        sport >= dport
                    }
                }
            };
            let (client, server, client_mac, server_mac) = if from_client {
                (src, dst, packet.src_mac, packet.dst_mac)
            } else {
                (dst, src, packet.dst_mac, packet.src_mac)
            };
            let flow = Flow {
                id: self.next_id,
                transport,
                client,
                server,
                client_mac,
                server_mac,
                first_seen: ts,
                last_seen: ts,
                packets: [0, 0],
                bytes: [0, 0],
                closed: false,
                client_stream: StreamPrefix::new(self.config.prefix_limit),
                server_stream: StreamPrefix::new(self.config.prefix_limit),
                client_datagram: Vec::new(),
                server_datagram: Vec::new(),
            };
            self.next_id += 1;
            self.stats.created += 1;
            self.flows.insert(key, flow);
        }
        let Some(flow) = self.flows.get_mut(&key) else {
            return;
        };

        let before = flow.memory();
        let to_server = src == flow.client;
        let side = usize::from(!to_server);
        flow.last_seen = flow.last_seen.max(ts);
        flow.packets[side] += 1;
        flow.bytes[side] += payload.len() as u64;
        if to_server && flow.client_mac.is_none() {
            flow.client_mac = packet.src_mac;
        }
        if !to_server && flow.server_mac.is_none() {
            flow.server_mac = packet.src_mac;
        }
        match tcp {
            Some((seq, flags)) => {
                let stream = if to_server {
                    &mut flow.client_stream
                } else {
                    &mut flow.server_stream
                };
                if flags & tcp_flags::SYN != 0 {
                    stream.syn(seq);
                }
                stream.segment(seq, payload);
                if flags & (tcp_flags::FIN | tcp_flags::RST) != 0 {
                    flow.closed = true;
                }
            }
            None => {
                let first = if to_server {
                    &mut flow.client_datagram
                } else {
                    &mut flow.server_datagram
                };
                if first.is_empty() && !payload.is_empty() {
                    let keep = payload.len().min(self.config.prefix_limit);
                    first.extend_from_slice(payload.get(..keep).unwrap_or_default());
                }
            }
        }
        let after = flow.memory();
        self.buffered = self.buffered.saturating_add(after).saturating_sub(before);
        if self.buffered > self.config.max_buffered {
            self.evict(ended);
        }
    }

    /// Ends flows idle since before `now` (µs).
    pub fn expire(&mut self, now: u64, ended: &mut Vec<(Flow, FlowEnd)>) {
        let config = self.config;
        let idle: Vec<FlowKey> = self
            .flows
            .iter()
            .filter(|(_, f)| {
                let timeout = if f.closed {
                    config.closed_timeout
                } else {
                    config.idle_timeout
                };
                now.saturating_sub(f.last_seen) >= timeout
            })
            .map(|(k, _)| *k)
            .collect();
        for key in idle {
            if let Some(flow) = self.remove(&key) {
                self.stats.expired += 1;
                ended.push((flow, FlowEnd::Expired));
            }
        }
    }

    /// Evicts the least recently seen eighth of the flows.
    fn evict(&mut self, ended: &mut Vec<(Flow, FlowEnd)>) {
        let mut by_age: Vec<(u64, FlowKey)> =
            self.flows.iter().map(|(k, f)| (f.last_seen, *k)).collect();
        by_age.sort_unstable_by_key(|(seen, _)| *seen);
        let count = (by_age.len() / 8).max(1);
        for (_, key) in by_age.into_iter().take(count) {
            if let Some(flow) = self.remove(&key) {
                self.stats.evicted += 1;
                ended.push((flow, FlowEnd::Evicted));
            }
        }
    }

    fn remove(&mut self, key: &FlowKey) -> Option<Flow> {
        let flow = self.flows.remove(key)?;
        self.buffered = self.buffered.saturating_sub(flow.memory());
        Some(flow)
    }

    /// Ends every remaining flow, oldest first.
    pub fn finish(&mut self, ended: &mut Vec<(Flow, FlowEnd)>) {
        let mut flows: Vec<Flow> = self.flows.drain().map(|(_, f)| f).collect();
        flows.sort_by_key(|f| f.id);
        self.buffered = 0;
        ended.extend(flows.into_iter().map(|f| (f, FlowEnd::Finished)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{TcpSegment, Transport};
    use crate::proto::Protocol;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn tcp<'a>(
        src: &str,
        sport: u16,
        dst: &str,
        dport: u16,
        seq: u32,
        flags: u8,
        payload: &'a [u8],
    ) -> Packet<'a> {
        Packet {
            src_mac: None,
            dst_mac: None,
            src_ip: ip(src),
            dst_ip: ip(dst),
            transport: Transport::Tcp(TcpSegment {
                sport,
                dport,
                seq,
                flags,
                payload,
            }),
        }
    }

    #[test]
    fn dicom_request_split_out_of_order_is_reassembled() {
        let request = crate::proto::dicom::build::associate(
            1,
            "PACS",
            "CT_SCANNER",
            &["1.2.840.10008.5.1.4.1.1.2"; 1],
        );
        let mut table = FlowTable::new(FlowConfig::default());
        let mut ended = Vec::new();
        table.packet(
            0,
            &tcp("10.0.0.5", 40000, "10.0.0.9", 104, 100, tcp_flags::SYN, b""),
            &mut ended,
        );
        table.packet(
            1,
            &tcp(
                "10.0.0.9",
                104,
                "10.0.0.5",
                40000,
                900,
                tcp_flags::SYN | tcp_flags::ACK,
                b"",
            ),
            &mut ended,
        );
        let (head, tail) = request.split_at(50);
        let tail_seq = 101 + 50;
        table.packet(
            2,
            &tcp(
                "10.0.0.5",
                40000,
                "10.0.0.9",
                104,
                tail_seq,
                tcp_flags::ACK,
                tail,
            ),
            &mut ended,
        );
        table.packet(
            3,
            &tcp(
                "10.0.0.5",
                40000,
                "10.0.0.9",
                104,
                101,
                tcp_flags::ACK,
                head,
            ),
            &mut ended,
        );
        table.packet(
            4,
            &tcp(
                "10.0.0.5",
                40000,
                "10.0.0.9",
                104,
                101,
                tcp_flags::ACK,
                head,
            ),
            &mut ended,
        );
        table.finish(&mut ended);
        assert_eq!(ended.len(), 1);
        let (flow, end) = &ended[0];
        assert_eq!(*end, FlowEnd::Finished);
        assert_eq!(flow.client.ip, ip("10.0.0.5"));
        assert_eq!(flow.server.port, 104);
        assert_eq!(flow.packets, [4, 1]);
        let identified = flow.identify();
        assert_eq!(identified.protocol, Protocol::Dicom);
        assert_eq!(identified.attributes["dicom.calling_ae"], "CT_SCANNER");
    }

    #[test]
    fn direction_without_syn_follows_service_ports() {
        let mut table = FlowTable::new(FlowConfig::default());
        let mut ended = Vec::new();
        // The first packet seen is the server's answer.
        table.packet(
            0,
            &tcp(
                "10.0.0.9",
                80,
                "10.0.0.5",
                51000,
                1,
                tcp_flags::ACK,
                b"HTTP/1.1 200 OK\r\n\r\n",
            ),
            &mut ended,
        );
        table.packet(
            1,
            &tcp(
                "10.0.0.5",
                51000,
                "10.0.0.9",
                80,
                1,
                tcp_flags::ACK,
                b"GET / HTTP/1.1\r\n\r\n",
            ),
            &mut ended,
        );
        table.finish(&mut ended);
        let flow = &ended[0].0;
        assert_eq!(flow.client.port, 51000);
        assert_eq!(flow.identify().protocol, Protocol::Http);
    }

    #[test]
    fn idle_flows_expire() {
        let mut table = FlowTable::new(FlowConfig {
            idle_timeout: 10_000_000,
            ..FlowConfig::default()
        });
        let mut ended = Vec::new();
        table.packet(
            0,
            &tcp("10.0.0.1", 1000, "10.0.0.2", 2000, 1, 0, b"x"),
            &mut ended,
        );
        table.packet(
            5_000_000,
            &tcp("10.0.0.3", 1000, "10.0.0.2", 2000, 1, 0, b"x"),
            &mut ended,
        );
        assert!(ended.is_empty());
        table.packet(
            12_000_000,
            &tcp("10.0.0.3", 1000, "10.0.0.2", 2000, 2, 0, b"y"),
            &mut ended,
        );
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].1, FlowEnd::Expired);
        assert_eq!(table.stats().expired, 1);
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn flow_count_bound_evicts_oldest() {
        let mut table = FlowTable::new(FlowConfig {
            max_flows: 16,
            ..FlowConfig::default()
        });
        let mut ended = Vec::new();
        for port in 0..100u16 {
            table.packet(
                u64::from(port),
                &tcp("10.0.0.1", 20000 + port, "10.0.0.2", 443, 1, 0, b"x"),
                &mut ended,
            );
            assert!(table.len() <= 16);
        }
        assert_eq!(table.stats().created, 100);
        assert_eq!(table.stats().evicted as usize, ended.len());
        assert!(ended.iter().all(|(_, e)| *e == FlowEnd::Evicted));
        // The oldest went first.
        assert_eq!(ended[0].0.client.port, 20000);
    }

    #[test]
    fn buffered_bytes_bound_evicts() {
        let config = FlowConfig {
            max_buffered: 4096,
            prefix_limit: 1024,
            ..FlowConfig::default()
        };
        let mut table = FlowTable::new(config);
        let mut ended = Vec::new();
        let payload = [7u8; 1024];
        for port in 0..40u16 {
            table.packet(
                u64::from(port),
                &tcp("10.0.0.1", 30000 + port, "10.0.0.2", 104, 1, 0, &payload),
                &mut ended,
            );
            assert!(table.buffered <= 4096 + 2048, "{}", table.buffered);
        }
        assert!(table.stats().evicted > 0);
    }
}
