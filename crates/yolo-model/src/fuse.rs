//! Folding every BatchNorm into its conv for inference (Ultralytics `model.fuse()`).

use burn::tensor::backend::Backend;

use crate::attention::{Attention, C2psa, PsaBlock};
use crate::block::{Bottleneck, C3k, C3k2, C3k2Block, Sppf};
use crate::head::{BoxBranch, ClsBranch, Detect, DwPair};
use crate::yolo::Yolo;

/// A module whose BatchNorms can be folded into the preceding convs.
pub trait Fuse {
    /// Returns the module with every `Conv` fused (eval-mode outputs unchanged).
    fn fuse(self) -> Self;
}

impl<B: Backend> Fuse for Bottleneck<B> {
    fn fuse(self) -> Self {
        Self { cv1: self.cv1.fuse(), cv2: self.cv2.fuse(), add: self.add }
    }
}

impl<B: Backend> Fuse for C3k<B> {
    fn fuse(self) -> Self {
        Self {
            cv1: self.cv1.fuse(),
            cv2: self.cv2.fuse(),
            cv3: self.cv3.fuse(),
            m: self.m.into_iter().map(Fuse::fuse).collect(),
        }
    }
}

impl<B: Backend> Fuse for C3k2<B> {
    fn fuse(self) -> Self {
        let m = self
            .m
            .into_iter()
            .map(|b| match b {
                C3k2Block::Bottleneck(x) => C3k2Block::Bottleneck(x.fuse()),
                C3k2Block::C3k(x) => C3k2Block::C3k(x.fuse()),
            })
            .collect();
        Self { cv1: self.cv1.fuse(), cv2: self.cv2.fuse(), m }
    }
}

impl<B: Backend> Fuse for Sppf<B> {
    fn fuse(self) -> Self {
        Self { cv1: self.cv1.fuse(), cv2: self.cv2.fuse(), k: self.k }
    }
}

impl<B: Backend> Fuse for Attention<B> {
    fn fuse(self) -> Self {
        Self { qkv: self.qkv.fuse(), proj: self.proj.fuse(), pe: self.pe.fuse(), ..self }
    }
}

impl<B: Backend> Fuse for PsaBlock<B> {
    fn fuse(mut self) -> Self {
        self.ffn.seq0 = self.ffn.seq0.fuse();
        self.ffn.seq1 = self.ffn.seq1.fuse();
        Self { attn: self.attn.fuse(), ffn: self.ffn }
    }
}

impl<B: Backend> Fuse for C2psa<B> {
    fn fuse(self) -> Self {
        Self {
            cv1: self.cv1.fuse(),
            cv2: self.cv2.fuse(),
            m: self.m.into_iter().map(Fuse::fuse).collect(),
        }
    }
}

impl<B: Backend> Fuse for DwPair<B> {
    fn fuse(self) -> Self {
        Self { seq0: self.seq0.fuse(), seq1: self.seq1.fuse() }
    }
}

impl<B: Backend> Fuse for Detect<B> {
    fn fuse(self) -> Self {
        let cv2 = self
            .cv2
            .into_iter()
            .map(|b| BoxBranch { seq0: b.seq0.fuse(), seq1: b.seq1.fuse(), seq2: b.seq2 })
            .collect();
        let cv3 = self
            .cv3
            .into_iter()
            .map(|c| ClsBranch { seq0: c.seq0.fuse(), seq1: c.seq1.fuse(), seq2: c.seq2 })
            .collect();
        Self { cv2, cv3, ..self }
    }
}

impl<B: Backend> Fuse for Yolo<B> {
    fn fuse(self) -> Self {
        Self {
            layer0: self.layer0.fuse(),
            layer1: self.layer1.fuse(),
            layer2: self.layer2.fuse(),
            layer3: self.layer3.fuse(),
            layer4: self.layer4.fuse(),
            layer5: self.layer5.fuse(),
            layer6: self.layer6.fuse(),
            layer7: self.layer7.fuse(),
            layer8: self.layer8.fuse(),
            layer9: self.layer9.fuse(),
            layer10: self.layer10.fuse(),
            layer13: self.layer13.fuse(),
            layer16: self.layer16.fuse(),
            layer17: self.layer17.fuse(),
            layer19: self.layer19.fuse(),
            layer20: self.layer20.fuse(),
            layer22: self.layer22.fuse(),
            layer23: self.layer23.fuse(),
            spec: self.spec,
        }
    }
}
