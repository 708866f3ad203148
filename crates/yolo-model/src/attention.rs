//! YOLO11's position-sensitive attention: Attention, PSABlock and C2PSA.

use burn::module::Module;
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::conv::{Conv, ConvSpec};

/// Multi-head self-attention over the `H·W` positions with a depthwise positional encoding.
///
/// `qkv` output channels are grouped per head: head 0's `[q (key_dim), k (key_dim), v (head_dim)]`,
/// then head 1's, and so on.
#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    /// `Conv(dim, dim + 2·key_dim·heads, 1, act=False)`.
    pub qkv: Conv<B>,
    /// `Conv(dim, dim, 1, act=False)`.
    pub proj: Conv<B>,
    /// Depthwise `Conv(dim, dim, 3, groups=dim, act=False)`.
    pub pe: Conv<B>,
    /// Number of heads.
    pub num_heads: usize,
    /// Channels of q and k per head.
    pub key_dim: usize,
    /// Channels of v per head.
    pub head_dim: usize,
}

impl<B: Backend> Attention<B> {
    /// Builds `Attention(dim, num_heads, attn_ratio=0.5)`.
    pub fn new(dim: usize, num_heads: usize, device: &B::Device) -> Self {
        let head_dim = dim / num_heads;
        let key_dim = head_dim / 2;
        let qkv_out = dim + 2 * key_dim * num_heads;
        Self {
            qkv: Conv::new(ConvSpec::new(dim, qkv_out, 1, 1).no_act(), device),
            proj: Conv::new(ConvSpec::new(dim, dim, 1, 1).no_act(), device),
            pe: Conv::new(ConvSpec::new(dim, dim, 3, 1).groups(dim).no_act(), device),
            num_heads,
            key_dim,
            head_dim,
        }
    }

    /// `[B, C, H, W]` → `[B, C, H, W]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [b, c, h, w] = x.dims();
        let n = h * w;
        let (nh, kd, hd) = (self.num_heads, self.key_dim, self.head_dim);
        let qkv = self.qkv.forward(x).reshape([b, nh, 2 * kd + hd, n]);
        let q = qkv.clone().narrow(2, 0, kd);
        let k = qkv.clone().narrow(2, kd, kd);
        let v = qkv.narrow(2, 2 * kd, hd);
        let scale = (kd as f64).powf(-0.5);
        let attn = softmax(q.swap_dims(2, 3).matmul(k).mul_scalar(scale), 3);
        let out = v.clone().matmul(attn.swap_dims(2, 3)).reshape([b, c, h, w]);
        let out = out + self.pe.forward(v.reshape([b, c, h, w]));
        self.proj.forward(out)
    }
}

/// Feed-forward of a PSABlock: `Conv(c, 2c, 1)` (SiLU) → `Conv(2c, c, 1, act=False)`.
#[derive(Module, Debug)]
pub struct Ffn<B: Backend> {
    /// `Conv(c, 2c, 1)`.
    pub seq0: Conv<B>,
    /// `Conv(2c, c, 1, act=False)`.
    pub seq1: Conv<B>,
}

/// `PSABlock(c, attn_ratio=0.5, num_heads)`: `x + attn(x)`, then `x + ffn(x)`.
#[derive(Module, Debug)]
pub struct PsaBlock<B: Backend> {
    /// The attention.
    pub attn: Attention<B>,
    /// The feed-forward.
    pub ffn: Ffn<B>,
}

impl<B: Backend> PsaBlock<B> {
    /// Builds `PSABlock(c, 0.5, num_heads)`.
    pub fn new(c: usize, num_heads: usize, device: &B::Device) -> Self {
        Self {
            attn: Attention::new(c, num_heads, device),
            ffn: Ffn {
                seq0: Conv::new(ConvSpec::new(c, 2 * c, 1, 1), device),
                seq1: Conv::new(ConvSpec::new(2 * c, c, 1, 1).no_act(), device),
            },
        }
    }

    /// `[B, c, H, W]` → `[B, c, H, W]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let x = x.clone() + self.attn.forward(x);
        x.clone() + self.ffn.seq1.forward(self.ffn.seq0.forward(x))
    }
}

/// `C2PSA(c1, c2=c1, n)`: split in two halves, attention blocks on the second, concat, 1×1 conv.
#[derive(Module, Debug)]
pub struct C2psa<B: Backend> {
    /// `Conv(c1, 2c, 1)` with `c = c1/2`.
    pub cv1: Conv<B>,
    /// `Conv(2c, c1, 1)`.
    pub cv2: Conv<B>,
    /// `n × PSABlock(c, num_heads = c / 64)`.
    pub m: Vec<PsaBlock<B>>,
}

impl<B: Backend> C2psa<B> {
    /// Builds `C2PSA(c1, c1, n)`.
    pub fn new(c1: usize, n: usize, device: &B::Device) -> Self {
        let c = c1 / 2;
        let heads = (c / 64).max(1);
        Self {
            cv1: Conv::new(ConvSpec::new(c1, 2 * c, 1, 1), device),
            cv2: Conv::new(ConvSpec::new(2 * c, c1, 1, 1), device),
            m: (0..n).map(|_| PsaBlock::new(c, heads, device)).collect(),
        }
    }

    /// `[B, c1, H, W]` → `[B, c1, H, W]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let y = self.cv1.forward(x);
        let c = y.dims()[1] / 2;
        let a = y.clone().narrow(1, 0, c);
        let b = self.m.iter().fold(y.narrow(1, c, c), |t, m| m.forward(t));
        self.cv2.forward(Tensor::cat(vec![a, b], 1))
    }
}
