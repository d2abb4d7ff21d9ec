//! The TOTP enrolment QR code as inline SVG, drawn on the gateway (no image service, no
//! `data:` URL for the CSP to allow). The `otpauth://` URI holds the secret, so the SVG is only
//! ever put in the enrolment page's response, which is `no-store`.

use qrcode::{Color, EcLevel, QrCode};

/// An SVG drawing of `data` as a QR code (medium error correction, 4-module quiet zone).
pub fn svg(data: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M).ok()?;
    let width = code.width();
    let quiet = 4;
    let size = width + 2 * quiet;
    let mut path = String::new();
    for (i, c) in code.to_colors().iter().enumerate() {
        if *c == Color::Dark {
            let (x, y) = (i % width + quiet, i / width + quiet);
            path.push_str(&format!("M{x} {y}h1v1h-1z"));
        }
    }
    Some(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" width=\"220\" \
         height=\"220\" role=\"img\" aria-label=\"QR code for your authenticator app\" \
         shape-rendering=\"crispEdges\"><rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/>\
         <path fill=\"#000\" d=\"{path}\"/></svg>"
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_qr_code_is_an_svg_with_modules() {
        let s = super::svg("otpauth://totp/rack-gateway:a@example.com?secret=ABC").unwrap();
        assert!(s.starts_with("<svg"));
        assert!(s.contains("h1v1h-1z"));
        assert!(!s.contains("otpauth"), "the secret is drawn, not written");
    }
}
