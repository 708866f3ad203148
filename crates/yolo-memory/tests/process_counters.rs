//! The process counters (RSS, glibc heap) follow allocations. A file of its own: the counters
//! are process-wide, and other tests allocating and freeing on parallel threads of the same
//! process would move them between two reads.

use yolo_memory::process::{available_ram, heap_bytes, peak_rss_bytes, rss_bytes, total_ram};

#[test]
fn rss_and_heap_grow_when_memory_is_touched() {
    let before = rss_bytes().expect("linux /proc");
    let block = std::hint::black_box(vec![1u8; 64 << 20]);
    let after = rss_bytes().unwrap();
    assert!(after >= before + (48 << 20), "{before} → {after}");
    assert!(peak_rss_bytes().unwrap() >= after);
    assert!(total_ram().unwrap() >= available_ram().unwrap());
    drop(block);
    let (before, _) = heap_bytes().expect("glibc");
    let block = std::hint::black_box(vec![1u8; 32 << 20]);
    let (during, reserved) = heap_bytes().unwrap();
    assert!(during >= before + (32 << 20) - (1 << 20), "{before} → {during}");
    assert!(reserved >= during);
    drop(block);
    assert!(heap_bytes().unwrap().0 + (16 << 20) < during);
}
