//! Packet generator and sink, benchmarks, and the side-by-side comparison runner. Built by a later issue.
