//! Bytes an actor's state holds, from the real capacities of its buffers.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::mem::size_of;

/// Heap bytes owned by a value (not counting `size_of::<Self>()` itself). Containers count
/// their capacity, not their length: that is what the allocator handed out.
pub trait HeapSize {
    fn heap_bytes(&self) -> usize;
}

impl HeapSize for String {
    fn heap_bytes(&self) -> usize {
        self.capacity()
    }
}

impl HeapSize for bytes::Bytes {
    fn heap_bytes(&self) -> usize {
        self.len()
    }
}

impl<T: HeapSize> HeapSize for Option<T> {
    fn heap_bytes(&self) -> usize {
        self.as_ref().map_or(0, HeapSize::heap_bytes)
    }
}

impl<T: HeapSize> HeapSize for Vec<T> {
    fn heap_bytes(&self) -> usize {
        self.capacity() * size_of::<T>() + self.iter().map(HeapSize::heap_bytes).sum::<usize>()
    }
}

impl<T: HeapSize> HeapSize for VecDeque<T> {
    fn heap_bytes(&self) -> usize {
        self.capacity() * size_of::<T>() + self.iter().map(HeapSize::heap_bytes).sum::<usize>()
    }
}

impl<K: HeapSize, V: HeapSize> HeapSize for BTreeMap<K, V> {
    /// B-tree nodes hold up to 11 entries; a node costs its entries plus a small header, so
    /// entries plus one eighth is a close bound without walking the nodes.
    fn heap_bytes(&self) -> usize {
        let entry = size_of::<K>() + size_of::<V>();
        self.len() * entry * 9 / 8
            + self
                .iter()
                .map(|(k, v)| k.heap_bytes() + v.heap_bytes())
                .sum::<usize>()
    }
}

impl<K: HeapSize, V: HeapSize, S> HeapSize for HashMap<K, V, S> {
    fn heap_bytes(&self) -> usize {
        // hashbrown: one control byte per bucket plus the entries, buckets = capacity * 8 / 7.
        let buckets = self.capacity() * 8 / 7;
        buckets * (size_of::<K>() + size_of::<V>() + 1)
            + self
                .iter()
                .map(|(k, v)| k.heap_bytes() + v.heap_bytes())
                .sum::<usize>()
    }
}

macro_rules! no_heap {
    ($($t:ty),*) => { $(impl HeapSize for $t { fn heap_bytes(&self) -> usize { 0 } })* };
}
no_heap!(
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    bool,
    char,
    ()
);

impl<A: HeapSize, B: HeapSize> HeapSize for (A, B) {
    fn heap_bytes(&self) -> usize {
        self.0.heap_bytes() + self.1.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_count_capacity_and_nested_heap() {
        let mut v: Vec<String> = Vec::with_capacity(4);
        v.push(String::with_capacity(100));
        assert_eq!(v.heap_bytes(), 4 * size_of::<String>() + 100);
        let d: VecDeque<u64> = VecDeque::with_capacity(10);
        assert!(d.heap_bytes() >= 10 * 8);
    }
}
