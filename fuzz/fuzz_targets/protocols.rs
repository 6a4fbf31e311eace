//! Fuzz target for the classification core's parsers: the protocol
//! identifiers and attribute extractors, the link-layer decoder, the DNS
//! message parser, the TLS ClientHello parser and the category-list loader
//! all take the same bytes and must never panic.
//!
//! Layout of the input: byte 0 chooses the transport and a port hint, byte
//! 1 where the client bytes end; the rest is split into client and server.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ward_runtime::categories::{CategorySet, ListKind};
use ward_runtime::packet::decode;
use ward_runtime::proto::{FlowBytes, TransportKind, dns, identify, tls};

const PORTS: [u16; 16] = [
    53, 67, 104, 123, 161, 443, 445, 514, 1900, 2575, 3389, 3702, 5353, 11112, 24105, 40000,
];

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let Some((&split, payload)) = rest.split_first() else {
        return;
    };
    let cut = usize::from(split).min(payload.len());
    let (client, server) = payload.split_at(cut);
    let transport = if control & 0x80 != 0 {
        TransportKind::Udp
    } else {
        TransportKind::Tcp
    };
    let port = PORTS[usize::from(control & 0x0f)];
    let flow = FlowBytes {
        transport,
        client_port: 49152,
        server_port: port,
        client,
        server,
    };
    let _ = identify(&flow);
    let _ = dns::parse_message(payload, control & 0x40 != 0);
    let _ = tls::client_hello(payload);
    for linktype in [0, 1, 101, 108, 113, 276] {
        let _ = decode(linktype, payload);
    }
    if control & 0x30 == 0x30 {
        let text = String::from_utf8_lossy(payload);
        let mut set = CategorySet::with_seed(1);
        if set.load("fuzz", ListKind::Block, &text, None).is_ok() {
            let _ = set.lookup(&text);
        }
    }
});
