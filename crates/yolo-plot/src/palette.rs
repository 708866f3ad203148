//! Ultralytics' 20-colour class palette and the label text colour that reads on it.

/// The detection palette of current Ultralytics (`ultralytics.utils.plotting.Colors`,
/// every release that ships YOLO11), as RGB.
pub const PALETTE: [[u8; 3]; 20] = hex_palette([
    0x042AFF, 0x0BDBEB, 0xF3F3F3, 0x00DFB7, 0x111F68, 0xFF6FDD, 0xFF444F, 0xCCED00, 0x00F344,
    0xBD00FF, 0x00B4FF, 0xDD00BA, 0x00FFFF, 0x26C000, 0x01FFB3, 0x7D24FF, 0x7B0068, 0xFF1B6C,
    0xFC6D2F, 0xA2FF0B,
]);

/// The palette of YOLOv5 and early YOLOv8 releases, as RGB, for pictures that must match those.
pub const LEGACY_PALETTE: [[u8; 3]; 20] = hex_palette([
    0xFF3838, 0xFF9D97, 0xFF701F, 0xFFB21D, 0xCFD231, 0x48F90A, 0x92CC17, 0x3DDB86, 0x1A9334,
    0x00D4BB, 0x2C99A8, 0x00C2FF, 0x344593, 0x6473FF, 0x0018EC, 0x8438FF, 0x520085, 0xCB38FF,
    0xFF95C8, 0xFF37C7,
]);

const fn hex_palette(hex: [u32; 20]) -> [[u8; 3]; 20] {
    let mut out = [[0; 3]; 20];
    let mut i = 0;
    while i < 20 {
        let [_, r, g, b] = hex[i].to_be_bytes();
        out[i] = [r, g, b];
        i += 1;
    }
    out
}

/// RGB colour of class `class` (palette index `class % 20`), as Ultralytics' `colors(class)`.
pub fn class_color(class: usize) -> [u8; 3] {
    PALETTE[class % PALETTE.len()]
}

/// Black or white, whichever reads better on `background` (RGB).
///
/// Rec. 601 luma above 150 of 255 gets black; this splits [`PALETTE`] exactly as
/// Ultralytics' hand-made dark/light colour sets do.
pub fn text_color(background: [u8; 3]) -> [u8; 3] {
    let [r, g, b] = background.map(f32::from);
    if 0.299 * r + 0.587 * g + 0.114 * b > 150.0 {
        [0, 0, 0]
    } else {
        [255, 255, 255]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_ids_wrap_modulo_20() {
        assert_eq!(class_color(0), [0x04, 0x2A, 0xFF]);
        assert_eq!(class_color(19), [0xA2, 0xFF, 0x0B]);
        assert_eq!(class_color(20), class_color(0));
        assert_eq!(LEGACY_PALETTE[0], [0xFF, 0x38, 0x38]);
        assert_eq!(LEGACY_PALETTE[19], [0xFF, 0x37, 0xC7]);
    }

    #[test]
    fn text_colour_matches_ultralytics_dark_set() {
        // Ultralytics draws dark text on exactly these palette entries (indices).
        let dark = [1, 2, 3, 5, 7, 8, 12, 14, 19];
        for (i, c) in PALETTE.iter().enumerate() {
            let want = if dark.contains(&i) {
                [0, 0, 0]
            } else {
                [255; 3]
            };
            assert_eq!(text_color(*c), want, "palette entry {i}");
        }
    }
}
