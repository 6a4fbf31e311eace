//! HL7 version 2 messages, in MLLP frames (a 0x0B start byte, the message,
//! then 0x1C 0x0D) or bare.
//!
//! A stream is HL7 when its first message opens with `MSH` and a field
//! separator. The MSH segment gives the message type and trigger, the
//! version, and the sending and receiving application and facility; PRT
//! and OBX segments may name the device (PRT-10 and PRT-16, OBX-18); the
//! other direction's MSA segment carries the acknowledgment code. Only the
//! first message of each direction is read.

use super::bytes::find;
use super::{Attributes, put_list, put_str};

const MLLP_START: u8 = 0x0b;
const MLLP_END: u8 = 0x1c;

/// Parses the first message of each direction; `None` unless HL7.
pub fn parse(client: &[u8], server: &[u8]) -> Option<Attributes> {
    let mut attributes = Attributes::new();
    let message = first_message(client)?;
    read_message(message, &mut attributes, true);
    if let Some(answer) = first_message(server) {
        read_message(answer, &mut attributes, false);
    }
    Some(attributes)
}

/// The first message in a stream, without its MLLP frame.
fn first_message(stream: &[u8]) -> Option<&[u8]> {
    let body = match stream.first() {
        Some(&MLLP_START) => stream.get(1..)?,
        _ => stream,
    };
    let separator = *body.get(3)?;
    if body.get(..3) != Some(b"MSH") || separator.is_ascii_alphanumeric() || separator < 0x20 {
        return None;
    }
    let end = find(body, &[MLLP_END]).unwrap_or(body.len());
    body.get(..end)
}

fn read_message(message: &[u8], attributes: &mut Attributes, from_client: bool) {
    let text = String::from_utf8_lossy(message);
    let mut chars = text.chars().skip(3);
    let Some(field_sep) = chars.next() else {
        return;
    };
    let component_sep = chars.next().filter(|c| *c != field_sep).unwrap_or('^');
    let component = |field: &str, n: usize| -> String {
        field
            .split(component_sep)
            .nth(n)
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let mut devices = Vec::new();

    for segment in text.split(['\r', '\n']).filter(|s| !s.is_empty()) {
        // MSH-1 is the separator itself, so MSH fields sit one place left.
        let fields: Vec<&str> = segment.split(field_sep).collect();
        let field = |n: usize| fields.get(n).copied().unwrap_or_default();
        match fields.first().copied() {
            Some("MSH") if from_client => {
                let application = |f: &str| {
                    let first = component(f, 0);
                    if first.is_empty() {
                        component(f, 1)
                    } else {
                        first
                    }
                };
                put_str(
                    attributes,
                    "hl7.sending_application",
                    &application(field(2)),
                );
                put_str(attributes, "hl7.sending_facility", &application(field(3)));
                put_str(
                    attributes,
                    "hl7.receiving_application",
                    &application(field(4)),
                );
                put_str(attributes, "hl7.receiving_facility", &application(field(5)));
                let kind = component(field(8), 0);
                let trigger = component(field(8), 1);
                let message_type = if trigger.is_empty() {
                    kind
                } else {
                    format!("{kind}^{trigger}")
                };
                put_str(attributes, "hl7.message_type", &message_type);
                put_str(attributes, "hl7.control_id", field(9).trim());
                put_str(attributes, "hl7.version", &component(field(11), 0));
            }
            Some("MSA") => {
                let code = field(1).trim();
                if code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()) {
                    put_str(attributes, "hl7.ack_code", code);
                }
            }
            Some("PRT") if from_client => {
                devices.push(component(field(10), 0));
                devices.push(component(field(16), 0));
            }
            Some("OBX") if from_client => devices.push(component(field(18), 0)),
            _ => {}
        }
    }
    devices.retain(|d| !d.is_empty());
    devices.dedup();
    if from_client {
        put_list(attributes, "hl7.device_ids", &devices);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mllp(message: &str) -> Vec<u8> {
        let mut out = vec![MLLP_START];
        out.extend_from_slice(message.as_bytes());
        out.extend_from_slice(&[MLLP_END, b'\r']);
        out
    }

    const ORU: &str = "MSH|^~\\&|PUMPGW^1.2.3^ISO|ICU|EMR|HOSP|20240101120000||ORU^R01^ORU_R01|MSG0001|P|2.6\r\
PID|1||12345\r\
PRT|1|UC||||||||PUMP-SN-0042^ALARIS||||||(01)00885403123456\r\
OBX|1|NM|RATE||5|mL/h|||||F|||||||IV-PUMP-7\r";

    #[test]
    fn mllp_message_yields_header_and_devices() {
        let a = parse(
            &mllp(ORU),
            &mllp("MSH|^~\\&|EMR|HOSP|PUMPGW|ICU|x||ACK^R01|A1|P|2.6\rMSA|AA|MSG0001\r"),
        )
        .unwrap();
        assert_eq!(a["hl7.message_type"], json!("ORU^R01"));
        assert_eq!(a["hl7.version"], json!("2.6"));
        assert_eq!(a["hl7.sending_application"], json!("PUMPGW"));
        assert_eq!(a["hl7.sending_facility"], json!("ICU"));
        assert_eq!(a["hl7.receiving_application"], json!("EMR"));
        assert_eq!(a["hl7.receiving_facility"], json!("HOSP"));
        assert_eq!(a["hl7.control_id"], json!("MSG0001"));
        assert_eq!(
            a["hl7.device_ids"],
            json!(["PUMP-SN-0042", "(01)00885403123456", "IV-PUMP-7"])
        );
        assert_eq!(a["hl7.ack_code"], json!("AA"));
    }

    #[test]
    fn bare_message_and_other_separators() {
        let a = parse(b"MSH#@~\\&#LAB#X#Y#Z#1##ADT@A08#9#P#2.3.1\r", &[]).unwrap();
        assert_eq!(a["hl7.message_type"], json!("ADT^A08"));
        assert_eq!(a["hl7.sending_application"], json!("LAB"));
        assert_eq!(a["hl7.version"], json!("2.3.1"));
    }

    #[test]
    fn truncated_message_keeps_what_it_has() {
        let framed = mllp(ORU);
        let a = parse(&framed[..30], &[]).unwrap();
        assert_eq!(a["hl7.sending_application"], json!("PUMPGW"));
        assert!(!a.contains_key("hl7.message_type"));
    }

    #[test]
    fn other_bytes_are_not_hl7() {
        for input in [
            &b"MSHX|"[..],
            b"MSH",
            b"GET / HTTP/1.0\r\n",
            &[MLLP_START, 1, 2, 3],
            b"",
            b"\x0bPID|1",
        ] {
            assert_eq!(parse(input, &[]), None, "{input:?}");
        }
    }
}
