//! YOLO11 building blocks: Bottleneck, C3k, C3k2 and SPPF (Ultralytics `block.py`).

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::module::max_pool2d;
use burn::tensor::Tensor;

use crate::conv::{Conv, ConvSpec};

/// `Bottleneck(c1, c2, shortcut, k=(3, 3), e)`: two 3×3 convs, residual add when `c1 == c2`.
#[derive(Module, Debug)]
pub struct Bottleneck<B: Backend> {
    /// `Conv(c1, c_, 3)` with `c_ = int(c2·e)`.
    pub cv1: Conv<B>,
    /// `Conv(c_, c2, 3)`.
    pub cv2: Conv<B>,
    /// Residual connection active.
    pub add: bool,
}

impl<B: Backend> Bottleneck<B> {
    /// Builds `Bottleneck(c1, c2, shortcut=true, k=(3, 3), e)`.
    pub fn new(c1: usize, c2: usize, e: f64, device: &B::Device) -> Self {
        let hidden = (c2 as f64 * e) as usize;
        Self {
            cv1: Conv::new(ConvSpec::new(c1, hidden, 3, 1), device),
            cv2: Conv::new(ConvSpec::new(hidden, c2, 3, 1), device),
            add: c1 == c2,
        }
    }

    /// `[B, c1, H, W]` → `[B, c2, H, W]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let y = self.cv2.forward(self.cv1.forward(x.clone()));
        if self.add { x + y } else { y }
    }
}

/// `C3k(c1, c2, n=2, shortcut, e=0.5, k=3)`: a C3 whose stack is `n` full-width bottlenecks.
#[derive(Module, Debug)]
pub struct C3k<B: Backend> {
    /// `Conv(c1, c_, 1)`.
    pub cv1: Conv<B>,
    /// `Conv(c1, c_, 1)`.
    pub cv2: Conv<B>,
    /// `Conv(2c_, c2, 1)`.
    pub cv3: Conv<B>,
    /// `n × Bottleneck(c_, c_, e=1.0)`.
    pub m: Vec<Bottleneck<B>>,
}

impl<B: Backend> C3k<B> {
    /// Builds `C3k(c1, c2, n)` with `e = 0.5`.
    pub fn new(c1: usize, c2: usize, n: usize, device: &B::Device) -> Self {
        let hidden = c2 / 2;
        Self {
            cv1: Conv::new(ConvSpec::new(c1, hidden, 1, 1), device),
            cv2: Conv::new(ConvSpec::new(c1, hidden, 1, 1), device),
            cv3: Conv::new(ConvSpec::new(2 * hidden, c2, 1, 1), device),
            m: (0..n).map(|_| Bottleneck::new(hidden, hidden, 1.0, device)).collect(),
        }
    }

    /// `[B, c1, H, W]` → `[B, c2, H, W]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let a = self.m.iter().fold(self.cv1.forward(x.clone()), |y, m| m.forward(y));
        self.cv3.forward(Tensor::cat(vec![a, self.cv2.forward(x)], 1))
    }
}

/// One inner block of a C3k2: a plain bottleneck (`e = 0.5`) or a C3k.
#[derive(Module, Debug)]
pub enum C3k2Block<B: Backend> {
    /// `Bottleneck(c, c, shortcut=True, e=0.5)` (n/s scales, `c3k = False`).
    Bottleneck(Bottleneck<B>),
    /// `C3k(c, c, n=2)` (`c3k = True`, and every C3k2 of m/l/x).
    C3k(C3k<B>),
}

impl<B: Backend> C3k2Block<B> {
    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        match self {
            Self::Bottleneck(m) => m.forward(x),
            Self::C3k(m) => m.forward(x),
        }
    }
}

/// `C3k2(c1, c2, n, c3k, e)`: a C2f (split, chained blocks, concat) with C3k or Bottleneck blocks.
#[derive(Module, Debug)]
pub struct C3k2<B: Backend> {
    /// `Conv(c1, 2c, 1)` with `c = int(c2·e)`.
    pub cv1: Conv<B>,
    /// `Conv((2 + n)·c, c2, 1)`.
    pub cv2: Conv<B>,
    /// The `n` inner blocks.
    pub m: Vec<C3k2Block<B>>,
}

impl<B: Backend> C3k2<B> {
    /// Builds `C3k2(c1, c2, n, c3k, e)`.
    pub fn new(c1: usize, c2: usize, n: usize, c3k: bool, e: f64, device: &B::Device) -> Self {
        let c = (c2 as f64 * e) as usize;
        let block = |_| {
            if c3k {
                C3k2Block::C3k(C3k::new(c, c, 2, device))
            } else {
                C3k2Block::Bottleneck(Bottleneck::new(c, c, 0.5, device))
            }
        };
        Self {
            cv1: Conv::new(ConvSpec::new(c1, 2 * c, 1, 1), device),
            cv2: Conv::new(ConvSpec::new((2 + n) * c, c2, 1, 1), device),
            m: (0..n).map(block).collect(),
        }
    }

    /// `[B, c1, H, W]` → `[B, c2, H, W]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let y = self.cv1.forward(x);
        let c = y.dims()[1] / 2;
        let mut parts = vec![y.clone().narrow(1, 0, c), y.narrow(1, c, c)];
        for block in &self.m {
            let last = parts[parts.len() - 1].clone();
            parts.push(block.forward(last));
        }
        self.cv2.forward(Tensor::cat(parts, 1))
    }
}

/// `SPPF(c1, c2, k=5)`: 1×1 conv, three chained 5×5 max-pools, concat, 1×1 conv.
#[derive(Module, Debug)]
pub struct Sppf<B: Backend> {
    /// `Conv(c1, c1/2, 1)`.
    pub cv1: Conv<B>,
    /// `Conv(4·(c1/2), c2, 1)`.
    pub cv2: Conv<B>,
    /// Pool kernel size (5).
    pub k: usize,
}

impl<B: Backend> Sppf<B> {
    /// Builds `SPPF(c1, c2, 5)`.
    pub fn new(c1: usize, c2: usize, device: &B::Device) -> Self {
        let hidden = c1 / 2;
        Self {
            cv1: Conv::new(ConvSpec::new(c1, hidden, 1, 1), device),
            cv2: Conv::new(ConvSpec::new(4 * hidden, c2, 1, 1), device),
            k: 5,
        }
    }

    /// `[B, c1, H, W]` → `[B, c2, H, W]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let (k, p) = (self.k, self.k / 2);
        let pool = |t: Tensor<B, 4>| max_pool2d(t, [k, k], [1, 1], [p, p], [1, 1], false);
        let y0 = self.cv1.forward(x);
        let y1 = pool(y0.clone());
        let y2 = pool(y1.clone());
        let y3 = pool(y2.clone());
        self.cv2.forward(Tensor::cat(vec![y0, y1, y2, y3], 1))
    }
}
