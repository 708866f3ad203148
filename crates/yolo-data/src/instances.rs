//! Whole-object operations the augmentations share (Ultralytics `Instances` methods), in px.

use crate::sample::Instances;
use crate::segments::resample_all;

/// Adds `(dx, dy)` px to every box and polygon point (`add_padding`).
pub(crate) fn shift(inst: &mut Instances, dx: f32, dy: f32) {
    for b in &mut inst.boxes {
        *b = [b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy];
    }
    for p in inst.segments.iter_mut().flatten() {
        *p = [p[0] + dx, p[1] + dy];
    }
}

/// Multiplies every box and polygon coordinate by `(sx, sy)` (`scale`).
pub(crate) fn scale(inst: &mut Instances, sx: f32, sy: f32) {
    for b in &mut inst.boxes {
        *b = [b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy];
    }
    for p in inst.segments.iter_mut().flatten() {
        *p = [p[0] * sx, p[1] * sy];
    }
}

/// Clamps boxes and polygon points to `[0, w] × [0, h]` px (`clip`).
pub(crate) fn clip(inst: &mut Instances, w: f32, h: f32) {
    for b in &mut inst.boxes {
        *b = [
            b[0].clamp(0.0, w),
            b[1].clamp(0.0, h),
            b[2].clamp(0.0, w),
            b[3].clamp(0.0, h),
        ];
    }
    for p in inst.segments.iter_mut().flatten() {
        *p = [p[0].clamp(0.0, w), p[1].clamp(0.0, h)];
    }
}

/// Keeps the objects whose `keep` flag is set, in order.
pub(crate) fn retain(inst: &mut Instances, keep: &[bool]) {
    let mut k = keep.iter();
    inst.cls.retain(|_| *k.next().unwrap_or(&false));
    let mut k = keep.iter();
    inst.boxes.retain(|_| *k.next().unwrap_or(&false));
    let mut k = keep.iter();
    inst.segments.retain(|_| *k.next().unwrap_or(&false));
}

/// Drops boxes with `(x2 − x1)·(y2 − y1) ≤ 0` (`remove_zero_area_boxes`).
pub(crate) fn remove_zero_area(inst: &mut Instances) {
    let keep: Vec<bool> = inst.boxes.iter().map(|b| area(b) > 0.0).collect();
    retain(inst, &keep);
}

/// Area of an xyxy box, px².
pub(crate) fn area(b: &[f32; 4]) -> f32 {
    (b[2] - b[0]) * (b[3] - b[1])
}

/// Mirrors left-right in an image `w` px wide (`fliplr`).
pub(crate) fn fliplr(inst: &mut Instances, w: f32) {
    for b in &mut inst.boxes {
        *b = [w - b[2], b[1], w - b[0], b[3]];
    }
    for p in inst.segments.iter_mut().flatten() {
        p[0] = w - p[0];
    }
}

/// Mirrors top-bottom in an image `h` px tall (`flipud`).
pub(crate) fn flipud(inst: &mut Instances, h: f32) {
    for b in &mut inst.boxes {
        *b = [b[0], h - b[3], b[2], h - b[1]];
    }
    for p in inst.segments.iter_mut().flatten() {
        p[1] = h - p[1];
    }
}

/// Object `i` alone.
pub(crate) fn pick(inst: &Instances, i: usize) -> Instances {
    Instances {
        cls: vec![inst.cls[i]],
        boxes: vec![inst.boxes[i]],
        segments: inst.segments.get(i).cloned().into_iter().collect(),
    }
}

/// Concatenates objects (`Instances.concatenate`). Polygons are kept only if every part that
/// has objects has polygons; parts whose polygons have fewer points are resampled to the
/// longest count first, as Ultralytics does.
pub(crate) fn concat(parts: Vec<Instances>) -> Instances {
    let with_objects = || parts.iter().filter(|p| !p.is_empty());
    let keep_segments = with_objects().all(|p| p.segments.len() == p.len());
    let n = with_objects()
        .filter_map(|p| p.segments.first().map(Vec::len))
        .max()
        .unwrap_or(0);
    let mut out = Instances::default();
    for mut p in parts {
        if keep_segments && p.segments.iter().any(|s| s.len() != n) {
            resample_all(&mut p.segments, n);
        }
        out.cls.extend(p.cls);
        out.boxes.extend(p.boxes);
        if keep_segments {
            out.segments.extend(p.segments);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(cls: u32, b: [f32; 4], seg: Option<Vec<[f32; 2]>>) -> Instances {
        Instances {
            cls: vec![cls],
            boxes: vec![b],
            segments: seg.into_iter().collect(),
        }
    }

    #[test]
    fn concat_resamples_or_drops_polygons() {
        let a = one(0, [0.0, 0.0, 1.0, 1.0], Some(vec![[0.0, 0.0]; 4]));
        let b = one(1, [0.0, 0.0, 2.0, 2.0], Some(vec![[1.0, 1.0]; 6]));
        let c = concat(vec![a.clone(), Instances::default(), b]);
        assert_eq!(c.cls, vec![0, 1]);
        assert!(c.segments.iter().all(|s| s.len() == 6));
        let boxes_only = one(2, [0.0, 0.0, 3.0, 3.0], None);
        let c = concat(vec![a, boxes_only]);
        assert_eq!((c.len(), c.segments.len()), (2, 0));
    }

    #[test]
    fn flips_and_zero_area() {
        let mut i = one(0, [1.0, 2.0, 4.0, 8.0], Some(vec![[1.0, 2.0]]));
        fliplr(&mut i, 10.0);
        flipud(&mut i, 20.0);
        assert_eq!(i.boxes[0], [6.0, 12.0, 9.0, 18.0]);
        assert_eq!(i.segments[0][0], [9.0, 18.0]);
        i.boxes.push([5.0, 5.0, 5.0, 9.0]);
        i.cls.push(3);
        i.segments.push(vec![[5.0, 5.0]]);
        remove_zero_area(&mut i);
        assert_eq!(i.len(), 1);
    }
}
