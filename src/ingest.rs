//! The ingest path.
