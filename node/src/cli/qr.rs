//! Drawing tickets as QR codes: in the terminal, as PNG, as SVG. The payload
//! is exactly the ticket text.

use std::path::Path;

use anyhow::Context as _;
use qrcode::{QrCode, render::unicode};

fn code(text: &str) -> anyhow::Result<QrCode> {
    crate::qr::code(text).context("the ticket is too long for a QR code")
}

/// The QR code as text for a terminal (two modules per character cell).
pub fn terminal(text: &str) -> anyhow::Result<String> {
    Ok(code(text)?
        .render::<unicode::Dense1x2>()
        .dark_color(unicode::Dense1x2::Light)
        .light_color(unicode::Dense1x2::Dark)
        .build())
}

pub fn write_png(text: &str, path: &Path) -> anyhow::Result<()> {
    let image = code(text)?
        .render::<image::Luma<u8>>()
        .min_dimensions(400, 400)
        .build();
    image
        .save_with_format(path, image::ImageFormat::Png)
        .with_context(|| format!("cannot write {}", path.display()))
}

pub fn write_svg(text: &str, path: &Path) -> anyhow::Result<()> {
    let svg = crate::qr::svg(text).context("the ticket is too long for a QR code")?;
    std::fs::write(path, svg).with_context(|| format!("cannot write {}", path.display()))
}

/// Read the text of the QR code in an image file (PNG, or any format the
/// `image` crate was built with).
pub fn decode_image(path: &Path) -> anyhow::Result<String> {
    let img = image::open(path)
        .with_context(|| format!("cannot read the image {}", path.display()))?
        .to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img);
    let grids = prepared.detect_grids();
    let grid = grids
        .first()
        .with_context(|| format!("no QR code found in {}", path.display()))?;
    let (_, text) = grid
        .decode()
        .map_err(|e| anyhow::anyhow!("the QR code in {} cannot be read: {e}", path.display()))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_decodes_to_the_exact_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.png");
        let text =
            "kithfriend1AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8wMTIz-_";
        write_png(text, &path).unwrap();
        let img = image::open(&path).unwrap().to_luma8();
        let mut prepared = rqrr::PreparedImage::prepare(img);
        let grids = prepared.detect_grids();
        assert_eq!(grids.len(), 1);
        let (_, content) = grids[0].decode().unwrap();
        assert_eq!(content, text);
    }

    #[test]
    fn svg_and_terminal_render() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.svg");
        write_svg("kithfriend1abc", &path).unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().contains("<svg"));
        assert!(terminal("kithfriend1abc").unwrap().lines().count() > 10);
    }
}
