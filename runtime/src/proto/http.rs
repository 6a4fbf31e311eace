//! HTTP/1.x requests and responses, and FHIR recognised inside them.
//!
//! A client stream is HTTP when it opens with a request line (a known
//! method, a target, `HTTP/1.x`). The request gives the method, the host
//! (from the Host header, else an absolute target), the path without its
//! query, and the user agent. The flow is FHIR when the request or the
//! response carries a FHIR media type (`application/fhir+json`,
//! `application/fhir+xml`) or the path names a FHIR resource type after a
//! base URL; `fhir.resource` is that resource type.

use super::bytes::find;
use super::{Attributes, Protocol, put_str};

const METHODS: [&str; 9] = [
    "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE",
];

/// FHIR R4/R5 resource types common in device and clinical traffic. A path
/// segment naming one of these (or `metadata`) marks a FHIR API call.
const FHIR_RESOURCES: [&str; 40] = [
    "Patient",
    "Observation",
    "Device",
    "DeviceMetric",
    "DeviceRequest",
    "DeviceUseStatement",
    "DeviceAssociation",
    "DeviceDefinition",
    "Encounter",
    "DiagnosticReport",
    "ImagingStudy",
    "ServiceRequest",
    "MedicationRequest",
    "MedicationAdministration",
    "MedicationStatement",
    "Medication",
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "Location",
    "Bundle",
    "Condition",
    "Procedure",
    "AllergyIntolerance",
    "Immunization",
    "Specimen",
    "Task",
    "Appointment",
    "Schedule",
    "Slot",
    "Consent",
    "DocumentReference",
    "Binary",
    "Subscription",
    "CapabilityStatement",
    "OperationOutcome",
    "Questionnaire",
    "QuestionnaireResponse",
    "CarePlan",
    "metadata",
];

/// Parses an HTTP exchange; `None` unless the client speaks HTTP/1.x.
pub fn parse(client: &[u8], server: &[u8]) -> Option<(Protocol, Attributes)> {
    let request = Request::parse(client)?;
    let mut attributes = Attributes::new();
    put_str(&mut attributes, "http.method", request.method);
    put_str(&mut attributes, "http.host", &request.host);
    put_str(&mut attributes, "http.path", &request.path);
    put_str(&mut attributes, "http.user_agent", &request.user_agent);

    let response = Response::parse(server);
    if let Some(response) = &response {
        attributes.insert(
            "http.status".to_owned(),
            serde_json::Value::from(response.status),
        );
        put_str(&mut attributes, "http.server", &response.server);
    }

    let fhir_type = is_fhir_media(&request.content_type)
        || is_fhir_media(&request.accept)
        || response
            .as_ref()
            .is_some_and(|r| is_fhir_media(&r.content_type));
    let resource = fhir_resource(&request.path);
    if fhir_type || resource.is_some() {
        if let Some(resource) = resource {
            put_str(&mut attributes, "fhir.resource", resource);
        }
        return Some((Protocol::Fhir, attributes));
    }
    Some((Protocol::Http, attributes))
}

fn is_fhir_media(value: &str) -> bool {
    let value = value.to_ascii_lowercase();
    value.contains("application/fhir+json") || value.contains("application/fhir+xml")
}

/// The resource type named by a FHIR REST path (`/fhir/r4/Observation/12`).
fn fhir_resource(path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // The resource type follows a base URL; a bare `/Device` on an unknown
    // server is too weak, so require a base segment or the `fhir` marker.
    let has_marker = segments.iter().any(|s| s.eq_ignore_ascii_case("fhir"));
    for (i, segment) in segments.iter().enumerate() {
        let Some(name) = FHIR_RESOURCES.iter().find(|r| *r == segment) else {
            continue;
        };
        if has_marker || i > 0 {
            // `metadata` is the capability statement of a FHIR server.
            return Some(if *name == "metadata" {
                "CapabilityStatement"
            } else {
                name
            });
        }
    }
    None
}

struct Request<'a> {
    method: &'a str,
    path: String,
    host: String,
    user_agent: String,
    content_type: String,
    accept: String,
}

impl<'a> Request<'a> {
    fn parse(stream: &'a [u8]) -> Option<Self> {
        let line_end = find(stream, b"\r\n").or_else(|| find(stream, b"\n"));
        let line = match line_end {
            Some(end) => stream.get(..end)?,
            // A request line cut by the capture is still recognisable.
            None if stream.len() >= 14 => stream,
            None => return None,
        };
        let line = std::str::from_utf8(line).ok()?;
        let mut parts = line.split(' ');
        let method_text = parts.next()?;
        let method = METHODS.iter().find(|m| **m == method_text)?;
        let target = parts.next()?;
        if target.is_empty() {
            return None;
        }
        match parts.next() {
            Some(v) if v.starts_with("HTTP/1.") || v.starts_with("HTTP/0.9") => {}
            None if line_end.is_none() => {}
            _ => return None,
        }

        let (mut host, path) = split_target(target);
        let mut request = Request {
            method,
            path,
            host: String::new(),
            user_agent: String::new(),
            content_type: String::new(),
            accept: String::new(),
        };
        for (name, value) in headers(
            stream
                .get(line_end.unwrap_or(stream.len())..)
                .unwrap_or_default(),
        ) {
            match name.to_ascii_lowercase().as_str() {
                "host" if host.is_empty() => host = value.to_owned(),
                "user-agent" => request.user_agent = value.to_owned(),
                "content-type" => request.content_type = value.to_owned(),
                "accept" => request.accept = value.to_owned(),
                _ => {}
            }
        }
        request.host = normalise_host(&host);
        Some(request)
    }
}

/// Splits a request target into (host, path without query).
fn split_target(target: &str) -> (String, String) {
    let (host, path) = match target.split_once("://") {
        Some((_, rest)) => match rest.find('/') {
            Some(slash) => (
                rest.get(..slash).unwrap_or_default(),
                rest.get(slash..).unwrap_or("/"),
            ),
            None => (rest, "/"),
        },
        None => ("", target),
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    (host.to_owned(), path.to_owned())
}

/// Lowercase host without port or trailing dot.
fn normalise_host(host: &str) -> String {
    let host = host.trim();
    let without_port = if host.starts_with('[') {
        host.split(']')
            .next()
            .map(|h| h.trim_start_matches('['))
            .unwrap_or_default()
    } else {
        host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        })
    };
    without_port.trim_end_matches('.').to_ascii_lowercase()
}

/// Header lines after the first line, up to the blank line.
fn headers(bytes: &[u8]) -> impl Iterator<Item = (&str, &str)> {
    let text = std::str::from_utf8(bytes).unwrap_or_else(|e| {
        // Keep the valid prefix: headers are ASCII, bodies need not be.
        std::str::from_utf8(bytes.get(..e.valid_up_to()).unwrap_or_default()).unwrap_or_default()
    });
    text.split('\n')
        .map(|l| l.trim_end_matches('\r'))
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim(), v.trim()))
}

struct Response {
    status: u16,
    server: String,
    content_type: String,
}

impl Response {
    fn parse(stream: &[u8]) -> Option<Self> {
        let rest = stream.strip_prefix(b"HTTP/1.")?;
        let status = std::str::from_utf8(rest.get(2..5)?).ok()?.parse().ok()?;
        let mut response = Response {
            status,
            server: String::new(),
            content_type: String::new(),
        };
        let line_end = find(stream, b"\n").unwrap_or(stream.len());
        for (name, value) in headers(stream.get(line_end..).unwrap_or_default()) {
            match name.to_ascii_lowercase().as_str() {
                "server" => response.server = value.to_owned(),
                "content-type" => response.content_type = value.to_owned(),
                _ => {}
            }
        }
        Some(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_fields() {
        let (protocol, a) = parse(
            b"GET /firmware/update.bin?x=1 HTTP/1.1\r\nHost: Updates.Vendor.example:8080\r\nUser-Agent: PumpOS/2.1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nServer: nginx\r\n\r\n",
        )
        .unwrap();
        assert_eq!(protocol, Protocol::Http);
        assert_eq!(a["http.method"], json!("GET"));
        assert_eq!(a["http.host"], json!("updates.vendor.example"));
        assert_eq!(a["http.path"], json!("/firmware/update.bin"));
        assert_eq!(a["http.user_agent"], json!("PumpOS/2.1"));
        assert_eq!(a["http.status"], json!(200));
        assert_eq!(a["http.server"], json!("nginx"));
    }

    #[test]
    fn absolute_target_gives_host() {
        let (_, a) = parse(b"GET http://proxy.example/a/b HTTP/1.0\r\n\r\n", &[]).unwrap();
        assert_eq!(a["http.host"], json!("proxy.example"));
        assert_eq!(a["http.path"], json!("/a/b"));
    }

    #[test]
    fn fhir_by_path_and_by_media_type() {
        let (protocol, a) = parse(
            b"POST /fhir/r4/Observation HTTP/1.1\r\nHost: emr\r\n\r\n",
            &[],
        )
        .unwrap();
        assert_eq!(protocol, Protocol::Fhir);
        assert_eq!(a["fhir.resource"], json!("Observation"));
        let (protocol, a) = parse(
            b"GET /api/thing HTTP/1.1\r\nAccept: application/fhir+json\r\n\r\n",
            &[],
        )
        .unwrap();
        assert_eq!(protocol, Protocol::Fhir);
        assert!(!a.contains_key("fhir.resource"));
        let (protocol, a) = parse(b"GET /baseR4/metadata HTTP/1.1\r\n\r\n", &[]).unwrap();
        assert_eq!(protocol, Protocol::Fhir);
        assert_eq!(a["fhir.resource"], json!("CapabilityStatement"));
        // A bare resource-like path on a plain web server is not FHIR.
        let (protocol, _) = parse(b"GET /Device HTTP/1.1\r\n\r\n", &[]).unwrap();
        assert_eq!(protocol, Protocol::Http);
    }

    #[test]
    fn other_bytes_are_not_http() {
        for input in [
            &b"FETCH / HTTP/1.1\r\n"[..],
            b"GET",
            b"GET  HTTP/1.1\r\n",
            b"GET / SIP/2.0\r\n",
            b"SSH-2.0-OpenSSH_9.6\r\n",
            &[0x16, 3, 1, 0, 5],
            b"",
        ] {
            assert!(parse(input, &[]).is_none(), "{input:?}");
        }
    }

    #[test]
    fn truncated_request_line_is_kept() {
        let (_, a) = parse(b"GET /very/long/path/cut", &[]).unwrap();
        assert_eq!(a["http.path"], json!("/very/long/path/cut"));
    }
}
