//! Writes one of every picture into /tmp/yolo-plot-demo from made-up but plausible data.

use std::f64::consts::PI;
use yolo_plot::{
    Annotation, DEFAULT_MAX_SIDE, RESULTS_COLUMNS, batch_grid, curve_png, draw_detections,
    labels_png, memory_png, pr_curve_png, results_png, save_rgb,
};

/// Deterministic noise in 0–1 (xorshift), so every run draws the same pictures.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

const NAMES: [&str; 6] = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "traffic light",
    "dog",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::Path::new("/tmp/yolo-plot-demo");
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    results(dir, &mut noise)?;
    curves(dir)?;
    memory(dir, &mut noise)?;
    labels(dir, &mut noise)?;
    batch(dir, &mut noise)?;
    annotated(dir)?;
    println!("wrote pictures to {}", dir.display());
    Ok(())
}

fn results(dir: &std::path::Path, noise: &mut Noise) -> Result<(), Box<dyn std::error::Error>> {
    let epochs: Vec<f64> = (1..=60).map(f64::from).collect();
    let curve = |start: f64, end: f64, rate: f64, jitter: f64, noise: &mut Noise| -> Vec<f64> {
        epochs
            .iter()
            .map(|e| end + (start - end) * (-e / rate).exp() + jitter * (noise.next() - 0.5))
            .collect()
    };
    let shapes = [
        (1.6, 0.9, 15.0),
        (3.2, 0.6, 8.0),
        (1.5, 1.0, 15.0),
        (0.3, 0.78, 10.0),
        (0.2, 0.66, 12.0),
    ];
    let mut values: Vec<Vec<f64>> = Vec::new();
    for (i, (a, b, r)) in shapes.iter().chain(&shapes[..3]).enumerate() {
        values.push(curve(
            *a * if i >= 5 { 0.9 } else { 1.0 },
            *b,
            *r,
            0.06,
            noise,
        ));
    }
    values.push(curve(0.2, 0.72, 12.0, 0.03, noise));
    values.push(curve(0.1, 0.48, 14.0, 0.02, noise));
    // Ultralytics column order: train losses, P, R, val losses, mAP50, mAP50-95 (as RESULTS_COLUMNS).
    let columns: Vec<(&str, &[f64])> = RESULTS_COLUMNS
        .iter()
        .zip(&values)
        .map(|(n, v)| (*n, &v[..]))
        .collect();
    results_png(dir.join("results.png"), &columns, &epochs)?;
    Ok(())
}

fn curves(dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let grid: Vec<f64> = (0..1000).map(|i| f64::from(i) / 999.0).collect();
    let pr: Vec<(String, Vec<f64>, f64)> = NAMES
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let k = 2.0 + i as f64 * 1.5;
            let p: Vec<f64> = grid.iter().map(|r| (1.0 - r.powf(k)).max(0.0)).collect();
            let ap = p.iter().sum::<f64>() / p.len() as f64;
            (n.to_string(), p, ap)
        })
        .collect();
    let map50 = pr.iter().map(|c| c.2).sum::<f64>() / pr.len() as f64;
    pr_curve_png(dir.join("BoxPR_curve.png"), &grid, &pr, map50)?;
    let f1: Vec<(String, Vec<f64>)> = NAMES
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let peak = 0.25 + 0.08 * i as f64;
            let f: Vec<f64> = grid
                .iter()
                .map(|c| (0.9 - 0.05 * i as f64) * (-((c - peak) / 0.22).powi(2)).exp())
                .collect();
            (n.to_string(), f)
        })
        .collect();
    curve_png(
        dir.join("BoxF1_curve.png"),
        &grid,
        &f1,
        "F1",
        "F1-Confidence Curve",
    )?;
    // 40 classes: grey curves, no per-class legend.
    let many: Vec<(String, Vec<f64>, f64)> = (0..40)
        .map(|i| {
            let k = 1.0 + f64::from(i) * 0.2;
            (
                format!("class{i}"),
                grid.iter().map(|r| 1.0 - r.powf(k)).collect(),
                0.5,
            )
        })
        .collect();
    pr_curve_png(dir.join("BoxPR_curve_40.png"), &grid, &many, 0.5)?;
    Ok(())
}

fn memory(dir: &std::path::Path, noise: &mut Noise) -> Result<(), Box<dyn std::error::Error>> {
    let t: Vec<f64> = (0..600).map(f64::from).collect();
    let rss: Vec<f64> = t
        .iter()
        .map(|s| 3.0 + 1.5 * (1.0 - (-s / 60.0).exp()) + 0.05 * noise.next())
        .collect();
    let used: Vec<f64> = t
        .iter()
        .map(|s| 6.0 + 2.5 * (s * 2.0 * PI / 30.0).sin().abs() + 0.1 * noise.next())
        .collect();
    let reserved: Vec<f64> = used
        .iter()
        .scan(0.0f64, |m, u| {
            *m = m.max(u + 1.0);
            Some(*m)
        })
        .collect();
    let series = [
        ("host RSS", &rss[..]),
        ("device in use", &used[..]),
        ("device reserved", &reserved[..]),
    ];
    memory_png(dir.join("memory.png"), &series, &t, "time (s)", "GiB")?;
    Ok(())
}

fn labels(dir: &std::path::Path, noise: &mut Noise) -> Result<(), Box<dyn std::error::Error>> {
    let counts: Vec<(String, usize)> = NAMES
        .iter()
        .zip([5210, 380, 2200, 410, 930, 120])
        .map(|(n, c)| (n.to_string(), c))
        .collect();
    let boxes: Vec<[f32; 4]> = (0..3000)
        .map(|_| {
            let (w, h) = (
                0.02 + 0.3 * noise.next().powi(2),
                0.03 + 0.4 * noise.next().powi(2),
            );
            [0.1 + 0.8 * noise.next(), 0.2 + 0.7 * noise.next(), w, h].map(|v| v as f32)
        })
        .collect();
    labels_png(dir.join("labels.png"), &counts, &boxes)?;
    // Many classes: 25 still named (smaller, upright counts), 80 numbered.
    for n in [25usize, 80] {
        let counts: Vec<(String, usize)> = (0..n)
            .map(|i| {
                (
                    format!("{} {i}", NAMES[i % NAMES.len()]),
                    40 + (i * 7919) % 12000,
                )
            })
            .collect();
        labels_png(dir.join(format!("labels_{n}.png")), &counts, &boxes[..200])?;
    }
    Ok(())
}

fn batch(dir: &std::path::Path, noise: &mut Noise) -> Result<(), Box<dyn std::error::Error>> {
    let (b, h, w) = (16usize, 640usize, 640usize);
    let mut images = vec![0u8; b * 3 * h * w];
    for (i, img) in images.chunks_exact_mut(3 * h * w).enumerate() {
        for (c, plane) in img.chunks_exact_mut(h * w).enumerate() {
            for (p, v) in plane.iter_mut().enumerate() {
                let (y, x) = (p / w, p % w);
                *v = ((x * (c + 1) + y * (3 - c) + i * 40) % 256) as u8 / 2 + 60;
            }
        }
    }
    let mut labels = Vec::new();
    for i in 0..b {
        for _ in 0..(1 + i % 4) {
            let cls = (noise.next() * NAMES.len() as f64) as usize;
            let (bw, bh) = (0.15 + 0.4 * noise.next(), 0.15 + 0.4 * noise.next());
            let (cx, cy) = (
                bw / 2.0 + (1.0 - bw) * noise.next(),
                bh / 2.0 + (1.0 - bh) * noise.next(),
            );
            labels.push([i as f64, cls as f64, cx, cy, bw, bh].map(|v| v as f32));
        }
    }
    let names: Vec<String> = NAMES.iter().map(|n| n.to_string()).collect();
    batch_grid(
        dir.join("train_batch0.jpg"),
        &images,
        b,
        h,
        w,
        &labels,
        &names,
        DEFAULT_MAX_SIDE,
    )?;
    batch_grid(
        dir.join("train_batch1.png"),
        &images[..5 * 3 * h * w],
        5,
        h,
        w,
        &labels,
        &names,
        DEFAULT_MAX_SIDE,
    )?;
    Ok(())
}

fn annotated(dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let (w, h) = (1280u32, 720u32);
    let mut rgb: Vec<u8> = (0..w * h)
        .flat_map(|p| [(p % w / 6) as u8, 90, (p / w / 3) as u8])
        .collect();
    let boxes: Vec<Annotation> = [
        ([100.0, 200.0, 400.0, 650.0], 0, 0.91),
        ([350.0, 5.0, 700.0, 300.0], 2, 0.78),
        ([1000.0, 400.0, 1400.0, 800.0], 5, 0.55),
        ([600.0, 380.0, 900.0, 600.0], 3, 0.42),
        ([f32::NAN, 0.0, 10.0, 10.0], 1, 0.99),
    ]
    .into_iter()
    .map(|(bbox, class, conf)| Annotation {
        bbox,
        label: format!("{} {conf:.2}", NAMES[class]),
        class,
    })
    .collect();
    draw_detections(&mut rgb, w, h, &boxes);
    save_rgb(dir.join("annotated.png"), &rgb, w, h)?;
    Ok(())
}
