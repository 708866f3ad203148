//! Decoding of stored floating-point elements (f16, bf16, f32, f64; either byte order) to f32.

/// A floating-point element type that converts to f32 (exactly, except f64 which rounds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FloatKind {
    /// IEEE half precision.
    F16,
    /// bfloat16.
    BF16,
    /// IEEE single precision.
    F32,
    /// IEEE double precision.
    F64,
}

impl FloatKind {
    /// Bytes per element.
    pub(crate) fn size(self) -> usize {
        match self {
            Self::F16 | Self::BF16 => 2,
            Self::F32 => 4,
            Self::F64 => 8,
        }
    }

    /// Decodes `bytes` (whose length is a multiple of [`Self::size`]; any excess is ignored).
    pub(crate) fn decode(self, bytes: &[u8], big_endian: bool) -> Vec<f32> {
        bytes
            .chunks_exact(self.size())
            .map(|c| self.element(c, big_endian))
            .collect()
    }

    /// One element from exactly `size()` bytes.
    fn element(self, c: &[u8], big_endian: bool) -> f32 {
        let mut buf = [0u8; 8];
        buf[..c.len()].copy_from_slice(c);
        if big_endian {
            buf[..c.len()].reverse();
        }
        match self {
            Self::F16 => half::f16::from_le_bytes([buf[0], buf[1]]).to_f32(),
            Self::BF16 => half::bf16::from_le_bytes([buf[0], buf[1]]).to_f32(),
            Self::F32 => f32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]),
            Self::F64 => f64::from_le_bytes(buf) as f32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FloatKind;

    #[test]
    fn decodes_every_kind_in_both_byte_orders() {
        let half = half::f16::from_f32(-1.5).to_le_bytes();
        assert_eq!(FloatKind::F16.decode(&half, false), vec![-1.5]);
        let bf = half::bf16::from_f32(3.0).to_be_bytes();
        assert_eq!(FloatKind::BF16.decode(&bf, true), vec![3.0]);
        let mut f = 0.25f32.to_le_bytes().to_vec();
        f.push(7); // trailing partial element is ignored
        assert_eq!(FloatKind::F32.decode(&f, false), vec![0.25]);
        assert_eq!(
            FloatKind::F64.decode(&2.5f64.to_be_bytes(), true),
            vec![2.5]
        );
    }
}
