//! The asset model (design.md §3).
