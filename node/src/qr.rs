//! QR codes of tickets and ids, shared by the CLI (terminal, PNG, SVG
//! files) and the web page (`GET /v1/qr`). The payload is exactly the text.

use qrcode::{EcLevel, QrCode, render::svg, types::QrError};

/// The QR code of `text`, with medium error correction: scannable from a
/// screen or a slightly bent print.
pub fn code(text: &str) -> Result<QrCode, QrError> {
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
}

/// The QR code of `text` as an SVG document, at least 400 px square, with
/// its quiet zone.
pub fn svg(text: &str) -> Result<String, QrError> {
    Ok(code(text)?
        .render::<svg::Color<'_>>()
        .min_dimensions(400, 400)
        .build())
}
