//! MAC address vendors from the IEEE OUI registry, as Debian's `ieee-data`
//! package installs it (`/usr/share/ieee-data/oui.txt`).
//!
//! Only the 24-bit MA-L assignments are read (lines `XX-XX-XX   (hex)
//! Vendor`); locally administered and multicast addresses have no vendor.

use std::collections::HashMap;
use std::path::Path;

/// Where Debian's ieee-data package puts the registry.
pub const DEFAULT_OUI_PATH: &str = "/usr/share/ieee-data/oui.txt";
/// The largest registry read (Debian's `oui.txt` is about 5 MB).
const MAX_REGISTRY_BYTES: u64 = 256 * 1024 * 1024;

/// Why the vendor table is not available.
#[derive(Debug, thiserror::Error)]
pub enum OuiError {
    /// The registry file is missing or unreadable.
    #[error("cannot read the IEEE OUI registry `{path}`")]
    Unreadable {
        /// The path tried.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl OuiError {
    /// What an operator can do about it.
    pub fn help(&self) -> &'static str {
        "MAC vendors are shown once the Debian package `ieee-data` is installed (apt-get install ieee-data)"
    }
}

/// OUI prefix to vendor name.
#[derive(Debug, Clone, Default)]
pub struct OuiTable {
    vendors: HashMap<[u8; 3], String>,
}

impl OuiTable {
    /// Reads the registry at `path`.
    pub fn load(path: &Path) -> Result<Self, OuiError> {
        let bytes = crate::files::read_capped(path, MAX_REGISTRY_BYTES).map_err(|source| {
            OuiError::Unreadable {
                path: path.display().to_string(),
                source,
            }
        })?;
        Ok(Self::parse(&String::from_utf8_lossy(&bytes)))
    }

    /// Parses registry text; lines that are not MA-L assignments are skipped.
    pub fn parse(text: &str) -> Self {
        let mut vendors = HashMap::new();
        for line in text.lines() {
            let Some((prefix, vendor)) = line.split_once("(hex)") else {
                continue;
            };
            let digits: Vec<u8> = prefix
                .trim()
                .split('-')
                .filter_map(|h| u8::from_str_radix(h, 16).ok())
                .collect();
            let Ok(oui) = <[u8; 3]>::try_from(digits.as_slice()) else {
                continue;
            };
            let vendor = vendor.trim();
            if !vendor.is_empty() {
                vendors.insert(oui, vendor.to_owned());
            }
        }
        OuiTable { vendors }
    }

    /// Vendors known.
    pub fn len(&self) -> usize {
        self.vendors.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.vendors.is_empty()
    }

    /// The vendor of a MAC address, if registered.
    pub fn vendor(&self, mac: [u8; 6]) -> Option<&str> {
        // Locally administered or group addresses carry no OUI.
        if mac[0] & 0x03 != 0 {
            return None;
        }
        self.vendors
            .get(&[mac[0], mac[1], mac[2]])
            .map(String::as_str)
    }
}

/// A MAC address as `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: [u8; 6]) -> String {
    let parts: Vec<String> = mac.iter().map(|b| format!("{b:02x}")).collect();
    parts.join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_registry_lines() {
        let text = "OUI/MA-L\t\t\tOrganization\r\n00-09-FB   (hex)\t\tPhilips Patientmonitoring\r\n0009FB     (base 16)\t\tPhilips Patientmonitoring\r\n\t\t\t\tHewlett-Packard-Strasse 2\r\nZZ-00-00   (hex)\t\tBroken\r\n";
        let table = OuiTable::parse(text);
        assert_eq!(table.len(), 1);
        assert_eq!(
            table.vendor([0x00, 0x09, 0xfb, 1, 2, 3]),
            Some("Philips Patientmonitoring")
        );
        assert_eq!(table.vendor([0x02, 0x09, 0xfb, 1, 2, 3]), None);
        assert_eq!(table.vendor([0x00, 0x00, 0x01, 1, 2, 3]), None);
    }

    #[test]
    fn missing_file_is_a_clear_error() {
        let err = OuiTable::load(Path::new("/nonexistent/oui.txt")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot read the IEEE OUI registry `/nonexistent/oui.txt`"
        );
        assert!(err.help().contains("ieee-data"));
    }

    #[test]
    fn mac_formatting() {
        assert_eq!(
            format_mac([0, 0x1b, 0x21, 0xa, 0xb, 0xc]),
            "00:1b:21:0a:0b:0c"
        );
    }
}
