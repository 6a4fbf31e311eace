//! DICOM upper layer (PS3.8): association requests, acceptances, rejections
//! and aborts.
//!
//! A client stream is DICOM when it opens with an A-ASSOCIATE-RQ PDU (type
//! 0x01, protocol version 1, a plausible length, an application context
//! item first). The AE titles, application context, abstract syntaxes (SOP
//! classes) and the implementation class UID and version are read from it;
//! the server's first PDU says whether the association was accepted,
//! rejected or aborted. A PDU cut short by the capture yields the items
//! read before the cut.

use super::bytes::{Cursor, text};
use super::{Attributes, put_list, put_str};

const ASSOCIATE_RQ: u8 = 0x01;
const ASSOCIATE_AC: u8 = 0x02;
const ASSOCIATE_RJ: u8 = 0x03;
const ABORT: u8 = 0x07;
/// Largest association PDU we believe (real ones are a few KiB).
const MAX_ASSOCIATE_LEN: u32 = 1 << 20;

/// Parses the first PDUs of both directions; `None` unless DICOM.
pub fn parse(client: &[u8], server: &[u8]) -> Option<Attributes> {
    let mut attributes = Attributes::new();
    let request = associate_rq(client, &mut attributes);
    let answer = server_answer(server, &mut attributes);
    if !request && !answer {
        return None;
    }
    Some(attributes)
}

/// The fixed part of an association PDU: type, length, version, and then
/// the items after the 68 bytes of AE titles and reserved space.
fn associate_header(bytes: &[u8], pdu_type: u8) -> Option<(Cursor<'_>, &[u8], &[u8])> {
    let mut c = Cursor::new(bytes);
    if c.u8()? != pdu_type {
        return None;
    }
    c.u8()?;
    let length = c.be32()?;
    if !(68..=MAX_ASSOCIATE_LEN).contains(&length) {
        return None;
    }
    if c.be16()? != 0x0001 {
        return None;
    }
    c.skip(2)?;
    let called = c.take(16)?;
    let calling = c.take(16)?;
    c.skip(32)?;
    // Items run to the PDU's end or the end of what was captured.
    let items_len = usize::try_from(length).ok()?.saturating_sub(68);
    let items = Cursor::new(c.take_up_to(items_len));
    // The first item of a real association is the application context.
    if let Some(&first) = items.rest().first()
        && first != 0x10
    {
        return None;
    }
    Some((items, called, calling))
}

fn associate_rq(client: &[u8], attributes: &mut Attributes) -> bool {
    let Some((items, called, calling)) = associate_header(client, ASSOCIATE_RQ) else {
        return false;
    };
    put_str(attributes, "dicom.called_ae", &text(called));
    put_str(attributes, "dicom.calling_ae", &text(calling));
    let mut sop_classes = Vec::new();
    let mut transfer_syntaxes = Vec::new();
    read_items(items, attributes, &mut sop_classes, &mut transfer_syntaxes);
    put_list(attributes, "dicom.sop_classes", &sop_classes);
    put_list(attributes, "dicom.transfer_syntaxes", &transfer_syntaxes);
    true
}

fn read_items(
    mut items: Cursor<'_>,
    attributes: &mut Attributes,
    sop_classes: &mut Vec<String>,
    transfer_syntaxes: &mut Vec<String>,
) {
    while let Some(item_type) = items.u8() {
        let (Some(_), Some(len)) = (items.u8(), items.be16()) else {
            return;
        };
        let body = items.take_up_to(usize::from(len));
        match item_type {
            0x10 => put_str(attributes, "dicom.application_context", &uid(body)),
            0x20 | 0x21 => {
                let mut sub = Cursor::new(body);
                if sub.skip(4).is_none() {
                    continue;
                }
                while let Some(sub_type) = sub.u8() {
                    let (Some(_), Some(sub_len)) = (sub.u8(), sub.be16()) else {
                        break;
                    };
                    let value = uid(sub.take_up_to(usize::from(sub_len)));
                    let list = match sub_type {
                        0x30 => &mut *sop_classes,
                        0x40 => &mut *transfer_syntaxes,
                        _ => continue,
                    };
                    if !value.is_empty() && !list.contains(&value) {
                        list.push(value);
                    }
                }
            }
            0x50 => {
                let mut sub = Cursor::new(body);
                while let Some(sub_type) = sub.u8() {
                    let (Some(_), Some(sub_len)) = (sub.u8(), sub.be16()) else {
                        break;
                    };
                    let value = sub.take_up_to(usize::from(sub_len));
                    match sub_type {
                        0x52 => put_str(attributes, "dicom.implementation_class_uid", &uid(value)),
                        0x55 => put_str(attributes, "dicom.implementation_version", &text(value)),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
}

/// A UID value: ASCII digits and dots, padded with a NUL or space.
fn uid(bytes: &[u8]) -> String {
    let value = text(bytes);
    if value.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        value
    } else {
        String::new()
    }
}

fn server_answer(server: &[u8], attributes: &mut Attributes) -> bool {
    let mut c = Cursor::new(server);
    let Some(pdu_type) = c.u8() else {
        return false;
    };
    match pdu_type {
        ASSOCIATE_AC => {
            let Some((items, _, _)) = associate_header(server, ASSOCIATE_AC) else {
                return false;
            };
            put_str(attributes, "dicom.association", "accepted");
            if !attributes.contains_key("dicom.implementation_class_uid") {
                // Only the client's identity is wanted; read but drop the rest.
                let mut scratch = Attributes::new();
                read_items(items, &mut scratch, &mut Vec::new(), &mut Vec::new());
            }
            true
        }
        ASSOCIATE_RJ | ABORT => {
            let fixed = (|| {
                c.u8()?;
                let length = c.be32()?;
                if length != 4 {
                    return None;
                }
                c.u8()?;
                let result = c.u8()?;
                let source = c.u8()?;
                let reason = c.u8()?;
                Some((result, source, reason))
            })();
            let Some((result, source, reason)) = fixed else {
                return false;
            };
            if pdu_type == ASSOCIATE_RJ {
                if !matches!(result, 1 | 2) || !matches!(source, 1..=3) {
                    return false;
                }
                put_str(attributes, "dicom.association", "rejected");
                put_str(attributes, "dicom.reject_reason", &reason.to_string());
            } else {
                if !matches!(source, 0 | 2) {
                    return false;
                }
                put_str(attributes, "dicom.association", "aborted");
            }
            true
        }
        _ => false,
    }
}

/// Builders of DICOM PDUs, for tests, benchmarks and fuzz seeds.
pub mod build {
    fn item(out: &mut Vec<u8>, kind: u8, body: &[u8]) {
        out.push(kind);
        out.push(0);
        out.extend_from_slice(&(body.len() as u16).to_be_bytes());
        out.extend_from_slice(body);
    }

    fn ae(title: &str) -> [u8; 16] {
        let mut out = [b' '; 16];
        for (slot, b) in out.iter_mut().zip(title.bytes()) {
            *slot = b;
        }
        out
    }

    /// An A-ASSOCIATE-RQ (or -AC with `pdu_type` 2) PDU.
    pub fn associate(pdu_type: u8, called: &str, calling: &str, sop_classes: &[&str]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&[0, 1, 0, 0]);
        body.extend_from_slice(&ae(called));
        body.extend_from_slice(&ae(calling));
        body.extend_from_slice(&[0; 32]);
        item(&mut body, 0x10, b"1.2.840.10008.3.1.1.1");
        for (i, sop) in sop_classes.iter().enumerate() {
            let mut pc = vec![(i * 2 + 1) as u8, 0, 0, 0];
            item(&mut pc, 0x30, sop.as_bytes());
            item(&mut pc, 0x40, b"1.2.840.10008.1.2\0");
            item(&mut body, 0x20, &pc);
        }
        let mut user = Vec::new();
        item(&mut user, 0x51, &16384u32.to_be_bytes());
        item(&mut user, 0x52, b"1.2.276.0.7230010.3.0.3.6.4");
        item(&mut user, 0x55, b"OFFIS_DCMTK_364");
        item(&mut body, 0x50, &user);
        let mut pdu = vec![pdu_type, 0];
        pdu.extend_from_slice(&(body.len() as u32).to_be_bytes());
        pdu.extend_from_slice(&body);
        pdu
    }
}

#[cfg(test)]
mod tests {
    use super::build::associate;
    use super::*;
    use serde_json::json;

    const CT: &str = "1.2.840.10008.5.1.4.1.1.2";
    const VERIFY: &str = "1.2.840.10008.1.1";

    #[test]
    fn association_request_yields_identity() {
        let rq = associate(1, "PACS", "CT_SCANNER", &[CT, VERIFY, CT]);
        let ac = associate(2, "PACS", "CT_SCANNER", &[CT]);
        let a = parse(&rq, &ac).unwrap();
        assert_eq!(a["dicom.called_ae"], json!("PACS"));
        assert_eq!(a["dicom.calling_ae"], json!("CT_SCANNER"));
        assert_eq!(
            a["dicom.application_context"],
            json!("1.2.840.10008.3.1.1.1")
        );
        assert_eq!(a["dicom.sop_classes"], json!([CT, VERIFY]));
        assert_eq!(a["dicom.transfer_syntaxes"], json!(["1.2.840.10008.1.2"]));
        assert_eq!(
            a["dicom.implementation_class_uid"],
            json!("1.2.276.0.7230010.3.0.3.6.4")
        );
        assert_eq!(a["dicom.implementation_version"], json!("OFFIS_DCMTK_364"));
        assert_eq!(a["dicom.association"], json!("accepted"));
    }

    #[test]
    fn rejection_and_abort() {
        let rq = associate(1, "PACS", "MR1", &[CT]);
        let a = parse(&rq, &[3, 0, 0, 0, 0, 4, 0, 1, 1, 7]).unwrap();
        assert_eq!(a["dicom.association"], json!("rejected"));
        assert_eq!(a["dicom.reject_reason"], json!("7"));
        let a = parse(&rq, &[7, 0, 0, 0, 0, 4, 0, 0, 0, 0]).unwrap();
        assert_eq!(a["dicom.association"], json!("aborted"));
    }

    #[test]
    fn truncated_request_keeps_what_it_has() {
        let rq = associate(1, "PACS", "CT_SCANNER", &[CT, VERIFY]);
        let a = parse(&rq[..100], &[]).unwrap();
        assert_eq!(a["dicom.calling_ae"], json!("CT_SCANNER"));
        assert!(!a.contains_key("dicom.implementation_version"));
        // Before the AE titles are complete it is not recognisable.
        assert_eq!(parse(&rq[..30], &[]), None);
    }

    #[test]
    fn other_bytes_are_not_dicom() {
        let mut wrong_version = associate(1, "A", "B", &[CT]);
        wrong_version[7] = 2;
        for input in [
            &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            &[0x16, 3, 1, 0, 5, 1, 0, 0, 1, 3],
            &wrong_version,
            &[1, 0, 0, 0, 0, 2, 0, 1],
            &[],
        ] {
            assert_eq!(parse(input, &[]), None, "{input:?}");
        }
    }
}
