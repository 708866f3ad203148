//! CubeCL's default memory pools (`MemoryConfiguration::SubSlices`, cubecl-runtime 0.10
//! `memory_manage.rs`) replayed on an allocation timeline: which pool each buffer goes to, the
//! first-fit slicing of its pages, the persistent pool of exact-size buffers, and so the bytes
//! the pools reserve from the device.

use serde::{Deserialize, Serialize};

use crate::tape::Event;

/// The device properties CubeCL builds its pools from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolConfig {
    /// Largest page, bytes (`max_storage_buffer_binding_size` on wgpu, total memory / 4 on CUDA).
    pub max_page: u64,
    /// Offset alignment of slices, bytes.
    pub alignment: u64,
}

impl PoolConfig {
    /// wgpu's default limits (128 MiB binding size, 256-byte alignment).
    pub const WGPU_DEFAULT: PoolConfig = PoolConfig { max_page: 128 << 20, alignment: 256 };

    /// CUDA with `total` bytes of device memory: pages up to a quarter of it, 512-byte alignment.
    pub fn cuda(total: u64) -> PoolConfig {
        PoolConfig { max_page: total / 4, alignment: 512 }
    }

    /// The sliced pools `(page size, largest slice)`, smallest first, as `SubSlices` builds them.
    pub fn pools(&self) -> Vec<(u64, u64)> {
        const MB: u64 = 1 << 20;
        let mut current = self.max_page;
        let mut base = 1u32;
        let mut pools = Vec::new();
        while current >= 32 * MB {
            current = (current / 4).next_multiple_of(self.alignment);
            pools.push((current, current / 2u64.pow(base)));
            base += 1;
        }
        pools.reverse();
        let top = self.max_page / self.alignment * self.alignment;
        pools.push((top, top));
        pools
    }

    /// Index in [`Self::pools`] of the pool an allocation of `size` bytes goes to, `None` when
    /// no pool takes it (larger than the largest page: CubeCL fails with `BufferTooBig`).
    pub fn pool_of(&self, pools: &[(u64, u64)], size: u64) -> Option<usize> {
        pools.iter().position(|&(page, max)| max >= size || page.checked_sub(size).is_some_and(|d| d * 5 < page))
    }
}

/// One page of a sliced pool: slices `(offset, size, free)` in address order.
#[derive(Debug, Default)]
struct Page {
    slices: Vec<(u64, u64, bool)>,
}

impl Page {
    fn coalesce(&mut self) {
        let mut merged: Vec<(u64, u64, bool)> = Vec::with_capacity(self.slices.len());
        for &s in &self.slices {
            match merged.last_mut() {
                Some(last) if last.2 && s.2 => last.1 += s.1,
                _ => merged.push(s),
            }
        }
        self.slices = merged;
    }

    /// First fit of `size` bytes; returns the slice index.
    fn try_reserve(&mut self, size: u64) -> Option<usize> {
        self.coalesce();
        let i = self.slices.iter().position(|&(_, s, free)| free && s >= size)?;
        let (offset, s, _) = self.slices[i];
        self.slices[i] = (offset, size, false);
        if s > size {
            self.slices.insert(i + 1, (offset + size, s - size, true));
        }
        Some(i)
    }

    fn release(&mut self, offset: u64) {
        if let Some(s) = self.slices.iter_mut().find(|s| s.0 == offset) {
            s.2 = true;
        }
    }
}

/// Result of replaying a timeline through the pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PoolUsage {
    /// Most bytes alive at once.
    pub peak_in_use: u64,
    /// Bytes of pages the pools hold at the end (they are never returned without a cleanup).
    pub reserved: u64,
    /// Largest single allocation, bytes.
    pub largest: u64,
    /// Allocations no pool could take (bigger than the largest page).
    pub too_big: u64,
}

/// CubeCL's persistent pool: one exact-size buffer per allocation, kept for reuse by an
/// allocation of the same padded size. burn creates module parameters in persistent mode, and
/// from then on every allocation whose padded size equals one of the pool's sizes goes there
/// too (cubecl-runtime 0.10 `MemoryManagement::reserve`): gradients, optimizer state, EMA and
/// updated parameters, and any activation that happens to have such a size.
#[derive(Debug, Default)]
struct ExactPool {
    /// Per padded size, its buffers: `true` = free.
    sizes: std::collections::HashMap<u64, Vec<bool>>,
}

impl ExactPool {
    /// Takes a free buffer of `size` or makes one; returns its index among that size's.
    fn reserve(&mut self, size: u64) -> usize {
        let bufs = self.sizes.entry(size).or_default();
        match bufs.iter().position(|&free| free) {
            Some(i) => {
                bufs[i] = false;
                i
            }
            None => {
                bufs.push(false);
                bufs.len() - 1
            }
        }
    }

    fn reserved(&self) -> u64 {
        self.sizes.iter().map(|(size, bufs)| size * bufs.len() as u64).sum()
    }
}

/// Where a live buffer was placed.
enum Placed {
    /// Pool, page, offset in the sliced pools.
    Sliced(usize, usize, u64),
    /// Padded size and index in the persistent pool.
    Exact(u64, usize),
}

/// Replays `events` through `config`'s pools; the buffers in `persistent` are allocated in
/// persistent mode (see [`ExactPool`]).
pub fn replay(config: &PoolConfig, events: &[Event], persistent: &std::collections::HashSet<usize>) -> PoolUsage {
    let pools = config.pools();
    let mut pages: Vec<Vec<Page>> = pools.iter().map(|_| Vec::new()).collect();
    let mut exact = ExactPool::default();
    let mut placed = std::collections::HashMap::new();
    let mut usage = PoolUsage::default();
    let mut live = 0u64;
    for e in events {
        match *e {
            Event::Alloc { buf, bytes } => {
                live += bytes;
                usage.peak_in_use = usage.peak_in_use.max(live);
                usage.largest = usage.largest.max(bytes);
                let size = bytes.max(1).next_multiple_of(config.alignment);
                if persistent.contains(&buf) || exact.sizes.contains_key(&size) {
                    placed.insert(buf, (Placed::Exact(size, exact.reserve(size)), bytes));
                    continue;
                }
                let Some(p) = config.pool_of(&pools, size) else {
                    usage.too_big += 1;
                    continue;
                };
                let found = pages[p].iter_mut().enumerate().find_map(|(i, page)| page.try_reserve(size).map(|s| (i, page.slices[s].0)));
                let (page, offset) = found.unwrap_or_else(|| {
                    let mut page = Page { slices: vec![(0, pools[p].0, true)] };
                    page.try_reserve(size);
                    pages[p].push(page);
                    (pages[p].len() - 1, 0)
                });
                placed.insert(buf, (Placed::Sliced(p, page, offset), bytes));
            }
            Event::Free { buf } => match placed.remove(&buf) {
                Some((Placed::Sliced(p, page, offset), bytes)) => {
                    live -= bytes;
                    pages[p][page].release(offset);
                }
                Some((Placed::Exact(size, i), bytes)) => {
                    live -= bytes;
                    exact.sizes.get_mut(&size).expect("placed there")[i] = true;
                }
                None => {}
            },
        }
    }
    let sliced: u64 = pages.iter().zip(&pools).map(|(ps, &(size, _))| ps.len() as u64 * size).sum();
    usage.reserved = sliced + exact.reserved();
    usage
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn wgpu_default_pools_match_cubecl() {
        // 128 MiB pages for big buffers, 32 MiB pages for ≤ 16 MiB, 8 MiB pages for ≤ 2 MiB.
        assert_eq!(
            PoolConfig::WGPU_DEFAULT.pools(),
            vec![(8 * MIB, 2 * MIB), (32 * MIB, 16 * MIB), (128 * MIB, 128 * MIB)]
        );
        let pools = PoolConfig::WGPU_DEFAULT.pools();
        assert_eq!(PoolConfig::WGPU_DEFAULT.pool_of(&pools, MIB), Some(0));
        assert_eq!(PoolConfig::WGPU_DEFAULT.pool_of(&pools, 7 * MIB), Some(0), "within 20 % of the page");
        assert_eq!(PoolConfig::WGPU_DEFAULT.pool_of(&pools, 3 * MIB), Some(1));
        assert_eq!(PoolConfig::WGPU_DEFAULT.pool_of(&pools, 129 * MIB), None);
    }

    #[test]
    fn freed_slices_are_reused_first_fit() {
        let alloc = |buf, bytes| Event::Alloc { buf, bytes };
        let events = [
            alloc(0, 40 * MIB),
            alloc(1, 40 * MIB),
            Event::Free { buf: 0 },
            alloc(2, 20 * MIB), // fits where buffer 0 was
            alloc(3, 60 * MIB), // 128 − 40 − 40 = 48 MiB free at the end: a second page
        ];
        let u = replay(&PoolConfig::WGPU_DEFAULT, &events, &Default::default());
        assert_eq!(u.peak_in_use, 120 * MIB);
        assert_eq!(u.reserved, 256 * MIB);
        assert_eq!(u.largest, 60 * MIB);
    }

    #[test]
    fn sizes_of_persistent_buffers_get_exact_buffers() {
        let alloc = |buf, bytes| Event::Alloc { buf, bytes };
        let events = [
            alloc(0, 1000),      // a parameter: persistent, padded to 1024
            alloc(1, 1000),      // its gradient: same padded size, so also an exact buffer
            alloc(2, 3 * MIB),   // an activation: a 32 MiB page
            Event::Free { buf: 1 },
            alloc(3, 1020),      // pads to 1024 too: reuses the gradient's buffer
            alloc(4, 1000),      // both 1024-byte buffers busy: a third
        ];
        let persistent = [0].into_iter().collect();
        let u = replay(&PoolConfig::WGPU_DEFAULT, &events, &persistent);
        assert_eq!(u.reserved, 32 * MIB + 3 * 1024);
    }

    #[test]
    fn buffers_above_the_largest_page_are_reported() {
        let u = replay(&PoolConfig::WGPU_DEFAULT, &[Event::Alloc { buf: 0, bytes: 200 * MIB }], &Default::default());
        assert_eq!(u.too_big, 1);
    }
}
