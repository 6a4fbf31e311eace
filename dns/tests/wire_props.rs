//! Property tests of the hot path's wire reader: no packet panics it, a
//! reply to any query it accepts is a message hickory can read, and a
//! mutated query is either refused or read consistently.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failing helper fails the test"
)]

use hickory_proto::op::Message;
use proptest::prelude::*;
use ward_dns::wire::{self, BlockAnswer, Reject};

fn query(name: &[u8], qtype: u16, opt: bool) -> Vec<u8> {
    let mut p = vec![0xAB, 0xCD, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(opt)];
    p.extend_from_slice(name);
    p.extend_from_slice(&qtype.to_be_bytes());
    p.extend_from_slice(&1u16.to_be_bytes());
    if opt {
        p.extend_from_slice(&[0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 0]);
    }
    p
}

fn label() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 1..20)
}

fn wire_name() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(label(), 0..6).prop_map(|labels| {
        let mut out = Vec::new();
        for l in labels {
            out.push(l.len() as u8);
            out.extend_from_slice(&l);
        }
        out.push(0);
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_bytes_are_read_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        match wire::parse_query(&bytes) {
            Ok(q) => {
                let reply = wire::block_answer(&q, BlockAnswer::NxDomain, 60, 1232);
                prop_assert!(wire::ttl_offsets(&reply).is_some());
            }
            Err(Reject::Answer { id, flags, rcode, question, edns }) => {
                let reply = wire::error_answer(id, flags, question.as_deref(), edns, u16::from(rcode), 1232);
                prop_assert!(reply.len() >= 12);
            }
            Err(Reject::Drop) => {}
        }
    }

    #[test]
    fn accepted_queries_get_readable_answers(
        name in wire_name(),
        qtype in any::<u16>(),
        opt in any::<bool>(),
        how in 0u8..4,
    ) {
        let packet = query(&name, qtype, opt);
        let q = wire::parse_query(&packet).unwrap();
        // The name text goes back to the same wire bytes (case aside).
        let back = wire::name_to_wire(&q.name).unwrap();
        prop_assert_eq!(back, name.to_ascii_lowercase());
        let how = match how {
            0 => BlockAnswer::NxDomain,
            1 => BlockAnswer::NoData,
            2 => BlockAnswer::Refused,
            _ => BlockAnswer::Sinkhole("192.0.2.1".parse().unwrap()),
        };
        let reply = wire::block_answer(&q, how, 60, 1232);
        let message = Message::from_vec(&reply).unwrap();
        prop_assert_eq!(message.metadata.id, 0xABCD);
        prop_assert_eq!(message.queries.len(), 1);
        prop_assert_eq!(message.edns.is_some(), opt);
        // The question is the client's own bytes.
        prop_assert_eq!(&reply[12..12 + q.question.len()], &q.question[..]);
    }

    #[test]
    fn mutated_queries_never_panic(
        name in wire_name(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut packet = query(&name, 1, true);
        for (at, byte) in flips {
            let i = at.index(packet.len());
            packet[i] = byte;
        }
        let end = cut.index(packet.len() + 1);
        let _ = wire::parse_query(&packet[..end]);
    }
}
