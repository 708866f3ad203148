//! A minimal protobuf wire-format reader: varints, fixed32/64 and length-delimited fields.

/// Why decoding stopped.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum WireError {
    /// The data ran out at this absolute byte offset.
    Truncated(usize),
    /// Invalid encoding at this absolute byte offset.
    Invalid(usize, String),
}

/// A length-delimited payload, possibly cut short by the end of the data.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Chunk<'a> {
    /// The bytes that are present.
    pub data: &'a [u8],
    /// Absolute offset of `data[0]`.
    pub start: usize,
    /// Whether the declared length reaches past the end of the data.
    pub truncated: bool,
}

/// The payload of one field, by wire type.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Payload<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1.
    Fixed64([u8; 8]),
    /// Wire type 2.
    Bytes(Chunk<'a>),
    /// Wire type 5.
    Fixed32([u8; 4]),
}

/// One decoded field.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field<'a> {
    /// Field number.
    pub number: u64,
    /// Its payload.
    pub payload: Payload<'a>,
}

impl<'a> Chunk<'a> {
    /// A whole buffer starting at offset 0.
    pub fn whole(data: &'a [u8]) -> Self {
        Self {
            data,
            start: 0,
            truncated: false,
        }
    }

    /// Absolute offset just past the bytes present.
    pub fn end(&self) -> usize {
        self.start + self.data.len()
    }

    /// Fails with [`WireError::Truncated`] if the payload was cut short.
    pub fn check_complete(&self) -> Result<(), WireError> {
        if self.truncated {
            Err(WireError::Truncated(self.end()))
        } else {
            Ok(())
        }
    }

    /// The fields of this payload read as a message.
    pub fn fields(self) -> Fields<'a> {
        Fields {
            chunk: self,
            pos: 0,
            done: false,
        }
    }

    /// The payload as UTF-8 text (a complete one).
    pub fn text(&self) -> Result<String, WireError> {
        self.check_complete()?;
        String::from_utf8(self.data.to_vec()).map_err(|e| {
            WireError::Invalid(
                self.start + e.utf8_error().valid_up_to(),
                "invalid UTF-8".into(),
            )
        })
    }

    /// The payload as packed varints (a complete one).
    pub fn packed_varints(&self) -> Result<Vec<u64>, WireError> {
        self.check_complete()?;
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < self.data.len() {
            out.push(read_varint(self.data, &mut pos, self.start)?);
        }
        Ok(out)
    }

    /// The payload bytes (a complete one).
    pub fn bytes(&self) -> Result<&'a [u8], WireError> {
        self.check_complete()?;
        Ok(self.data)
    }

    /// The payload as packed fixed-size elements (a complete one whose length is a multiple of `size`).
    pub fn packed_fixed(&self, size: usize) -> Result<&'a [u8], WireError> {
        self.check_complete()?;
        if !self.data.len().is_multiple_of(size) {
            let problem = format!(
                "packed field of {} bytes is not a multiple of {size}",
                self.data.len()
            );
            return Err(WireError::Invalid(self.start, problem));
        }
        Ok(self.data)
    }
}

/// Iterator over the fields of a message; stops after the first error.
pub(crate) struct Fields<'a> {
    chunk: Chunk<'a>,
    pos: usize,
    done: bool,
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.chunk.data.len() {
            return None;
        }
        let item = self.read_field();
        self.done = item.is_err();
        Some(item)
    }
}

impl<'a> Fields<'a> {
    fn read_field(&mut self) -> Result<Field<'a>, WireError> {
        let (data, base) = (self.chunk.data, self.chunk.start);
        let at = base + self.pos;
        let key = read_varint(data, &mut self.pos, base)?;
        let number = key >> 3;
        if number == 0 {
            return Err(WireError::Invalid(at, "field number 0".into()));
        }
        let payload = match key & 7 {
            0 => Payload::Varint(read_varint(data, &mut self.pos, base)?),
            1 => Payload::Fixed64(self.take_array()?),
            2 => Payload::Bytes(self.take_chunk()?),
            5 => Payload::Fixed32(self.take_array()?),
            wire => {
                return Err(WireError::Invalid(
                    at,
                    format!("unsupported wire type {wire}"),
                ));
            }
        };
        Ok(Field { number, payload })
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let bytes = self
            .chunk
            .data
            .get(self.pos..self.pos + N)
            .ok_or(WireError::Truncated(self.chunk.end()))?;
        self.pos += N;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn take_chunk(&mut self) -> Result<Chunk<'a>, WireError> {
        let (data, base) = (self.chunk.data, self.chunk.start);
        let len = read_varint(data, &mut self.pos, base)?;
        let available = data.len() - self.pos;
        let len_present = usize::try_from(len).map_or(available, |l| l.min(available));
        let chunk = Chunk {
            data: &data[self.pos..self.pos + len_present],
            start: base + self.pos,
            truncated: (len_present as u64) < len,
        };
        self.pos += len_present;
        Ok(chunk)
    }
}

/// Reads a base-128 varint at `*pos` of `data` (whose first byte is at absolute `base`).
fn read_varint(data: &[u8], pos: &mut usize, base: usize) -> Result<u64, WireError> {
    let start = *pos;
    let mut value = 0u64;
    for shift in (0..70).step_by(7) {
        let byte = *data
            .get(*pos)
            .ok_or(WireError::Truncated(base + data.len()))?;
        *pos += 1;
        value |= u64::from(byte & 0x7f).checked_shl(shift).unwrap_or(0);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(WireError::Invalid(
        base + start,
        "varint longer than 10 bytes".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::test_support::varint;

    #[test]
    fn reads_every_wire_type() {
        let mut msg = vec![0x08];
        msg.extend(varint(300));
        msg.push(0x11);
        msg.extend(2.5f64.to_le_bytes());
        msg.extend([0x1a, 2, b'h', b'i']);
        msg.push(0x25);
        msg.extend(1.5f32.to_le_bytes());
        let fields: Vec<_> = Chunk::whole(&msg)
            .fields()
            .collect::<Result<_, _>>()
            .expect("valid");
        assert!(matches!(fields[0].payload, Payload::Varint(300)));
        assert!(matches!(fields[1].payload, Payload::Fixed64(b) if f64::from_le_bytes(b) == 2.5));
        assert!(matches!(fields[2].payload, Payload::Bytes(c) if c.text() == Ok("hi".into())));
        assert!(matches!(fields[3].payload, Payload::Fixed32(b) if f32::from_le_bytes(b) == 1.5));
        assert_eq!(fields[3].number, 4);
    }

    #[test]
    fn cut_payloads_are_marked_and_bad_data_is_reported() {
        let msg = [0x12, 10, 1, 2, 3];
        let field = Chunk::whole(&msg)
            .fields()
            .next()
            .expect("one field")
            .expect("readable");
        let Payload::Bytes(chunk) = field.payload else {
            panic!("bytes expected")
        };
        assert!(chunk.truncated);
        assert_eq!(chunk.check_complete(), Err(WireError::Truncated(5)));
        let bad = [0x0b];
        assert!(matches!(
            Chunk::whole(&bad).fields().next(),
            Some(Err(WireError::Invalid(0, _)))
        ));
        let long = [
            0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ];
        assert!(matches!(
            Chunk::whole(&long).fields().next(),
            Some(Err(WireError::Invalid(1, _)))
        ));
        let packed = Chunk::whole(&[0x96, 0x01, 0x05])
            .packed_varints()
            .expect("packed");
        assert_eq!(packed, vec![150, 5]);
    }
}
