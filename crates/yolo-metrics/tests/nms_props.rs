//! Property tests for NMS: output invariants, and equality with a literal (O(n²)) transcription of
//! Ultralytics' pipeline + torchvision's CPU kernel loop.

use proptest::prelude::*;
use yolo_metrics::{Detection, NmsConfig, non_max_suppression, xywh_to_xyxy};

/// torchvision-style IoU of kept box `a` with later box `b` (float32, no eps).
fn tv_iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let area = |x: &[f32; 4]| (x[2] - x[0]) * (x[3] - x[1]);
    let xx1 = if a[0] < b[0] { b[0] } else { a[0] };
    let yy1 = if a[1] < b[1] { b[1] } else { a[1] };
    let xx2 = if b[2] < a[2] { b[2] } else { a[2] };
    let yy2 = if b[3] < a[3] { b[3] } else { a[3] };
    let w = if 0.0 < xx2 - xx1 { xx2 - xx1 } else { 0.0 };
    let h = if 0.0 < yy2 - yy1 { yy2 - yy1 } else { 0.0 };
    let inter = w * h;
    inter / (area(a) + area(b) - inter)
}

fn offset(d: &Detection, cfg: &NmsConfig) -> [f32; 4] {
    let o = if cfg.agnostic {
        0.0
    } else {
        d.cls as f32 * cfg.max_wh
    };
    [d.bbox[0] + o, d.bbox[1] + o, d.bbox[2] + o, d.bbox[3] + o]
}

/// Straightforward transcription: rows -> optional max_nms cut -> offsets -> full suppression loop.
fn reference(pred: &[f32], nc: usize, a_n: usize, cfg: &NmsConfig) -> Vec<Detection> {
    let at = |r: usize, a: usize| pred[r * a_n + a];
    let mut rows: Vec<Detection> = Vec::new();
    let ml = cfg.multi_label && nc > 1;
    for a in 0..a_n {
        let scores: Vec<f32> = (0..nc).map(|c| at(4 + c, a)).collect();
        // torch amax: NaN if any score is NaN; NaN > conf is false
        if scores.iter().any(|s| s.is_nan()) {
            continue;
        }
        let amax = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if amax <= cfg.conf {
            continue;
        }
        let bbox = xywh_to_xyxy([at(0, a), at(1, a), at(2, a), at(3, a)]);
        if ml {
            for (c, &s) in scores.iter().enumerate() {
                if s > cfg.conf {
                    rows.push(Detection {
                        bbox,
                        conf: s,
                        cls: c,
                    });
                }
            }
        } else {
            let c = (0..nc).fold(0, |b, c| if scores[c] > scores[b] { c } else { b });
            if scores[c] > cfg.conf {
                rows.push(Detection {
                    bbox,
                    conf: scores[c],
                    cls: c,
                });
            }
        }
    }
    if let Some(cl) = &cfg.classes {
        rows.retain(|r| cl.contains(&r.cls));
    }
    if rows.len() > cfg.max_nms {
        rows.sort_by(|x, y| y.conf.partial_cmp(&x.conf).unwrap());
        rows.truncate(cfg.max_nms);
    }
    let boxes: Vec<[f32; 4]> = rows.iter().map(|r| offset(r, cfg)).collect();
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&x, &y| rows[y].conf.partial_cmp(&rows[x].conf).unwrap());
    let mut suppressed = vec![false; rows.len()];
    let mut keep = Vec::new();
    for (oi, &i) in order.iter().enumerate() {
        if suppressed[i] {
            continue;
        }
        keep.push(i);
        for &j in &order[oi + 1..] {
            if !suppressed[j] && tv_iou(&boxes[i], &boxes[j]) > cfg.iou {
                suppressed[j] = true;
            }
        }
    }
    keep.truncate(cfg.max_det);
    keep.into_iter().map(|i| rows[i]).collect()
}

#[derive(Debug, Clone)]
struct Case {
    nc: usize,
    a_n: usize,
    pred: Vec<f32>,
    cfg: NmsConfig,
}

fn case() -> impl Strategy<Value = Case> {
    (
        1usize..5,
        0usize..48,
        any::<u64>(),
        0usize..6,
        any::<bool>(),
        any::<bool>(),
        0usize..4,
        any::<bool>(),
    )
        .prop_map(
            |(nc, a_n, seed, thr_i, multi_label, agnostic, limits, huge)| {
                // small deterministic generator so boxes cluster and scores tie
                let mut s = seed | 1;
                let mut rnd = move || {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    (s >> 11) as f64 / (1u64 << 53) as f64
                };
                let mut pred = vec![0f32; (4 + nc) * a_n];
                for a in 0..a_n {
                    let cx = (rnd() * 4.0).floor() * 30.0 + rnd() * 12.0;
                    let cy = (rnd() * 3.0).floor() * 30.0 + rnd() * 12.0;
                    // occasionally boxes larger than max_wh, so class-offset boxes of different classes overlap
                    let big = huge && rnd() < 0.2;
                    let w = if big {
                        9000.0 + rnd() * 9000.0
                    } else {
                        5.0 + rnd() * 40.0
                    };
                    let h = if big {
                        9000.0 + rnd() * 9000.0
                    } else {
                        5.0 + rnd() * 40.0
                    };
                    let v = [cx as f32, cy as f32, w as f32, h as f32];
                    for k in 0..4 {
                        pred[k * a_n + a] = v[k];
                    }
                    for c in 0..nc {
                        // quantised scores -> frequent exact ties
                        pred[(4 + c) * a_n + a] = ((rnd() * 20.0).floor() / 20.0) as f32;
                    }
                }
                let thr = [0.0f32, 0.3, 0.45, 0.5, 0.7, 1.0][thr_i];
                let (max_det, max_nms) = match limits {
                    0 => (300, 30000),
                    1 => (3, 30000),
                    2 => (300, 7),
                    _ => (5, 10),
                };
                let classes = if seed % 5 == 0 {
                    Some(vec![0, nc - 1])
                } else {
                    None
                };
                let cfg = NmsConfig {
                    conf: 0.25,
                    iou: thr,
                    max_det,
                    max_nms,
                    multi_label,
                    agnostic,
                    classes,
                    ..NmsConfig::default()
                };
                Case { nc, a_n, pred, cfg }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn nms_output_invariants(c in case()) {
        let out = non_max_suppression(&c.pred, c.nc, c.a_n, &c.cfg);
        prop_assert!(out.len() <= c.cfg.max_det);
        // sorted by confidence (non-increasing)
        for w in out.windows(2) {
            prop_assert!(w[0].conf >= w[1].conf);
        }
        for d in &out {
            prop_assert!(d.conf > c.cfg.conf);
            prop_assert!(d.cls < c.nc);
        }
        // no two kept boxes of the same class (any class if agnostic) overlap more than the threshold
        for i in 0..out.len() {
            for j in i + 1..out.len() {
                if c.cfg.agnostic || out[i].cls == out[j].cls {
                    let v = tv_iou(&offset(&out[i], &c.cfg), &offset(&out[j], &c.cfg));
                    prop_assert!(v <= c.cfg.iou || v.is_nan(), "iou {} > {}", v, c.cfg.iou);
                }
            }
        }
    }

    #[test]
    fn nms_equals_literal_reference(c in case()) {
        let fast = non_max_suppression(&c.pred, c.nc, c.a_n, &c.cfg);
        let slow = reference(&c.pred, c.nc, c.a_n, &c.cfg);
        prop_assert_eq!(fast, slow);
    }
}
